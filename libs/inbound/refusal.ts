import type { ServerResponse } from 'node:http';

export interface FieldProblem {
  field: string;
  message: string;
}

/**
 * Answers a request refused before any controller saw it, with the body the admin API's input
 * errors have (libs/admin AdminInputError): `{ error, error_description, fields? }`. Rendered here,
 * with node's own response API, because these answers leave before Nest's exception filter.
 */
export function refuse(res: ServerResponse, status: 400 | 413 | 415, description: string, fields?: FieldProblem[]): void {
  const body = JSON.stringify({ error: 'invalid_request', error_description: description, ...(fields ? { fields } : {}) });
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.end(body);
}

/** A 400 naming one field: `field: message` as AdminInputError words it. */
export function refuseField(res: ServerResponse, problem: FieldProblem): void {
  refuse(res, 400, `${problem.field}: ${problem.message}`, [problem]);
}
