// Reads request bodies with a hard size limit: JSON, or form-encoded where RFC 7662/7009 require it.
import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import { HttpError } from './errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

const tooLarge = (limit: number): HttpError =>
  new HttpError(413, 'payload_too_large', `The body may be at most ${limit} bytes.`);

/** Reads a request body, refusing more than `limit` bytes; the rest is drained so the connection can answer. */
export function readRequest(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > limit) {
    req.resume();
    return Promise.reject(tooLarge(limit));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.once('end', () => {
      if (!failed) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    req.once('error', (err) => {
      if (!failed) reject(new HttpError(400, 'bad_request', `The request body could not be read: ${err.message}`));
    });
  });
}

export function readRaw(ctx: Context, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return readRequest(ctx.req, limit);
}

export async function readBody(ctx: Context, opts: { form?: boolean } = {}): Promise<unknown> {
  return parseBody(await readRaw(ctx), ctx.get('content-type'), opts);
}

export function parseBody(raw: Buffer, contentType: string | undefined, opts: { form?: boolean } = {}): unknown {
  if (raw.length === 0) return undefined;
  const type = (contentType || 'application/json').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      return JSON.parse(raw.toString('utf8')) as unknown;
    } catch {
      throw new HttpError(400, 'parse_error', 'The body is not valid JSON.', { type: 'client_error' });
    }
  }
  if (opts.form && type === 'application/x-www-form-urlencoded') {
    return Object.fromEntries(new URLSearchParams(raw.toString('utf8')));
  }
  throw new HttpError(415, 'unsupported_media_type', `Content-Type ${type} is not accepted; send application/json.`);
}
