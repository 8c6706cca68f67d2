import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeComponent } from './form.js';
import { type FieldProblem, refuseField } from './refusal.js';
import { UNSTORABLE } from './unstorable-string.js';

type Next = (error?: unknown) => void;

/** RFC 3986 §2: a request target is printable ASCII; everything else arrives percent-encoded. */
const RAW_TARGET = /^[\x21-\x7e]*$/;
/** What no id, name or parameter of Tollgate's holds once decoded: controls (Unicode Cc), and what PostgreSQL cannot store. */
const UNREADABLE = new RegExp(`[\\u0000-\\u001f\\u007f-\\u009f]|${UNSTORABLE.source}`);

function pathProblem(path: string): FieldProblem | undefined {
  if (!RAW_TARGET.test(path)) return { field: 'path', message: 'must be percent-encoded ASCII (RFC 3986 §2.1)' };
  let decoded: string;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    return { field: 'path', message: 'is not valid percent-encoded UTF-8' };
  }
  if (UNREADABLE.test(decoded)) return { field: 'path', message: 'must not contain NUL or other control characters' };
  return undefined;
}

function queryProblem(query: string): FieldProblem | undefined {
  if (!RAW_TARGET.test(query)) return { field: 'query', message: 'must be percent-encoded ASCII (RFC 3986 §2.1)' };
  for (const pair of query.split('&')) {
    if (!pair) continue;
    const eq = pair.indexOf('=');
    const rawName = eq === -1 ? pair : pair.slice(0, eq);
    const name = decodeComponent(rawName);
    if (name === undefined) return { field: rawName, message: 'the parameter name is not valid percent-encoded UTF-8' };
    if (UNREADABLE.test(name)) return { field: rawName, message: 'the parameter name must not contain NUL or other control characters' };
    const value = decodeComponent(eq === -1 ? '' : pair.slice(eq + 1));
    if (value === undefined) return { field: name, message: 'is not valid percent-encoded UTF-8' };
    if (UNREADABLE.test(value)) return { field: name, message: 'must not contain NUL or other control characters' };
  }
  return undefined;
}

/** The path of the request target, undecoded, without the query. */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const mark = url.indexOf('?');
  return mark === -1 ? url : url.slice(0, mark);
}

/**
 * Express middleware refusing (400, naming `path` or the query parameter) a request whose path or
 * query cannot be decoded, or decodes to NUL, other control characters or lone surrogates: no id
 * or parameter of Tollgate's holds them, and they must not reach a query. `describesAnotherRequest`
 * names paths whose target belongs to someone else's call (the check endpoint's `/check/<path>`):
 * those are judged by their own route's rules.
 */
export function requestTarget(options: { describesAnotherRequest?: (path: string) => boolean } = {}) {
  return (req: IncomingMessage, res: ServerResponse, next: Next): void => {
    const path = pathOf(req);
    if (options.describesAnotherRequest?.(path)) return next();
    const url = req.url ?? '/';
    const problem = pathProblem(path) ?? (url.length === path.length ? undefined : queryProblem(url.slice(path.length + 1)));
    if (problem) return refuseField(res, problem);
    next();
  };
}
