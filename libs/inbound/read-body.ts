import type { IncomingMessage } from 'node:http';
import { DISCARD_LIMIT } from './limits.js';

/** The body is larger than `limit` bytes (HTTP 413, RFC 9110 §15.5.14). */
export class BodyTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`request body is larger than ${limit} bytes`);
    this.name = 'BodyTooLarge';
  }
}

/**
 * Reads the whole body of `req` up to `maxBytes`. A declared Content-Length above the limit is
 * refused before anything is read; a body that grows past it stops being kept. Either way the
 * rest is read and dropped while it is at most DISCARD_LIMIT more, so that the client is done
 * sending when the 413 arrives; answer it with `Connection: close`.
 */
export function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (req.readableEnded) return resolve(Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;

    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const refuse = () => {
      stop();
      // Keep the stream flowing so that nothing buffers; the answer ends the connection.
      req.resume();
      reject(new BodyTooLarge(maxBytes));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (tooLarge) {
        if (size > maxBytes + DISCARD_LIMIT) refuse();
        return;
      }
      if (size > maxBytes) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (tooLarge) return refuse();
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    const onClose = () => {
      if (req.complete) return;
      stop();
      reject(new Error('the request was aborted before its body ended'));
    };

    if (declared > maxBytes) {
      if (declared > maxBytes + DISCARD_LIMIT) return refuse();
      tooLarge = true;
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}
