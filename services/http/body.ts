// Reads request bodies with a hard size limit: JSON, or form-encoded where RFC 7662/7009 require it.
import type { Context } from 'koa';
import { HttpError } from './errors.js';

export const MAX_BODY_BYTES = 64 * 1024;

export async function readRaw(ctx: Context, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || '0');
  if (declared > limit) throw new HttpError(413, 'payload_too_large', `The body may be at most ${limit} bytes.`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      ctx.req.unpipe();
      ctx.req.resume(); // drain, so the connection can answer
      throw new HttpError(413, 'payload_too_large', `The body may be at most ${limit} bytes.`);
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

export async function readBody(ctx: Context, opts: { form?: boolean } = {}): Promise<unknown> {
  const raw = await readRaw(ctx);
  if (raw.length === 0) return undefined;
  const type = (ctx.get('content-type') || 'application/json').split(';')[0]!.trim().toLowerCase();
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
