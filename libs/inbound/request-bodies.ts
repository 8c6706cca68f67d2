import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseForm } from './form.js';
import { jsonDepth } from './json-depth.js';
import { BODY_LIMITS, MAX_JSON_DEPTH } from './limits.js';
import { FORM, isJson, mediaType } from './media-type.js';
import { pathOf } from './request-target.js';
import { BodyTooLarge, readBody } from './read-body.js';
import { refuse, refuseField } from './refusal.js';
import { unstorableString } from './unstorable-string.js';

type Next = (error?: unknown) => void;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** RFC 9110 §6.4.1: a request has a body when it says so (a length, or a transfer coding). */
function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || req.headers['content-length'] !== undefined;
}

/**
 * Express middleware in place of Nest's body parsers: JSON (`application/json`, `application/*+json`)
 * and forms (`application/x-www-form-urlencoded`) become `req.body`, within BODY_LIMITS and
 * MAX_JSON_DEPTH, as UTF-8 (RFC 8259 §8.1), with no NUL or lone surrogate in any string or name.
 * An empty body is `{}`. Any other type leaves `req.body` undefined, as before: the routes that
 * need JSON say so themselves (415), and the others find their fields missing. Paths that
 * `describesAnotherRequest` (a gateway forwarding the protected call's body) are not read.
 */
export function requestBodies(options: { limits?: { json: number; form: number }; describesAnotherRequest?: (path: string) => boolean } = {}) {
  const limits = options.limits ?? BODY_LIMITS;
  return (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: Next): void => {
    if (options.describesAnotherRequest?.(pathOf(req))) return next();
    const type = mediaType(req.headers['content-type']);
    const kind = !type ? undefined : isJson(type.essence) ? 'json' : type.essence === FORM ? 'form' : undefined;
    if (!kind || !hasBody(req)) return next();
    const coding = req.headers['content-encoding']?.trim().toLowerCase();
    if (coding && coding !== 'identity') {
      // RFC 9110 §15.5.16: an unsupported content coding is a 415.
      return refuse(res, 415, `content-encoding ${coding} is not supported: send the body uncompressed`);
    }
    if (type!.charset !== undefined && type!.charset !== 'utf-8' && type!.charset !== 'utf8') {
      return refuse(res, 415, `charset ${type!.charset} is not supported: send UTF-8`);
    }
    const limit = kind === 'json' ? limits.json : limits.form;
    readBody(req, limit).then(
      (bytes) => {
        let text: string;
        try {
          text = utf8.decode(bytes);
        } catch {
          return refuse(res, 400, 'request body is not valid UTF-8');
        }
        let body: unknown;
        if (kind === 'form') {
          const parsed = parseForm(text);
          if ('problem' in parsed) return refuseField(res, parsed.problem);
          body = parsed.form;
        } else if (text.length === 0) {
          body = {};
        } else {
          if (jsonDepth(text) > MAX_JSON_DEPTH) return refuse(res, 400, `request body nests deeper than ${MAX_JSON_DEPTH} levels`);
          // As Nest's parser had it (body-parser `strict`): a document is an object or an array.
          if (!/^[\s]*[{[]/.test(text)) return refuse(res, 400, 'request body is not valid JSON: send an object or an array');
          try {
            body = JSON.parse(text);
          } catch {
            return refuse(res, 400, 'request body is not valid JSON');
          }
        }
        const problem = unstorableString(body);
        if (problem) return refuseField(res, problem);
        req.body = body;
        next();
      },
      (error: unknown) => {
        if (error instanceof BodyTooLarge) {
          res.setHeader('Connection', 'close');
          return refuse(res, 413, `request body is larger than ${error.limit} bytes (${kind === 'json' ? 'JSON' : 'forms'})`);
        }
        // The client went away mid-body: nobody reads an answer.
        req.destroy();
      },
    );
  };
}
