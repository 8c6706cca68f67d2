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

/**
 * The query parameters of an admin list endpoint, each given at most once: a repeated parameter
 * (`?limit=1&limit=2`) arrives as an array (anything but a string, as a richer query parser could
 * make), a 400 naming it. Take the query whole (`@Query() query`), not by name (`@Query('limit')`): with
 * a transforming ValidationPipe, a named string parameter is String()-ed first, and
 * `['1', '2']` becomes `'1,2'` before any check can see the array.
 */
export function singleQueryValues<K extends string>(query: Record<string, unknown> | undefined, names: readonly K[]): Partial<Record<K, string>> {
  const problems: FieldProblem[] = [];
  const values: Partial<Record<K, string>> = {};
  for (const name of names) {
    const value = query?.[name];
    if (value === undefined) continue;
    if (typeof value === 'string') values[name] = value;
    else problems.push({ field: name, message: 'must be given once, as a single value' });
  }
  if (problems.length) throw new AdminInputError(problems);
  return values;
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
