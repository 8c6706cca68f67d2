import { BadRequestException, ValidationPipe, type ValidationError } from '@nestjs/common';

export interface FieldProblem {
  field: string;
  message: string;
}

/** A 400 naming each bad field: `{ error, error_description, fields: [{ field, message }] }`. */
export class AdminInputError extends BadRequestException {
  constructor(readonly problems: FieldProblem[], error = 'invalid_request') {
    super({
      error,
      error_description: problems.map((p) => `${p.field}: ${p.message}`).join('; '),
      fields: problems,
    });
  }
}

function flatten(errors: ValidationError[], prefix = ''): FieldProblem[] {
  return errors.flatMap((e) => {
    const field = prefix ? `${prefix}.${e.property}` : e.property;
    const own = Object.values(e.constraints ?? {}).map((message) => ({ field, message }));
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** Whitelisting pipe: unknown fields are refused by name, never silently dropped. */
export function adminValidationPipe(error = 'invalid_request'): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => new AdminInputError(flatten(errors), error),
  });
}
