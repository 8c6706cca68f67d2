/**
 * How a command ends when it does not succeed, and the exit code each gets (docs/cli.md "Exit
 * codes"): 1 the server refused, 2 the command line was wrong, 3 the server could not be reached,
 * 4 anything else (a bug in the CLI).
 */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3, failed: 4 } as const;

/** The command line is wrong: a missing or unknown option, a file that is not what it should be. */
export class UsageError extends Error {
  readonly exitCode = EXIT.usage;
}

/** The server could not be reached (connection refused, DNS, timeout). */
export class UnreachableError extends Error {
  readonly exitCode = EXIT.unreachable;
}

/** A problem the admin API names per field (libs/admin AdminInputError). */
export interface FieldProblem {
  field: string;
  message: string;
}

/** The server answered with an error: its status and the OAuth-style body (RFC 6749 §5.2 shape). */
export class RefusedError extends Error {
  readonly exitCode = EXIT.refused;

  constructor(
    readonly status: number,
    readonly error: string,
    readonly description: string | undefined,
    readonly fields: FieldProblem[] = [],
  ) {
    super(`${status} ${error}${description ? `: ${description}` : ''}`);
  }

  toJSON() {
    return { status: this.status, error: this.error, ...(this.description ? { error_description: this.description } : {}), ...(this.fields.length ? { fields: this.fields } : {}) };
  }
}
