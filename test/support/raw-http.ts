// node:http with raw header lines, for requests fetch cannot send (it merges repeated headers).
import { request } from 'node:http';
import { checkRegistered } from './contract.js';

export interface RawRes {
  status: number;
  body: any;
}

/** node:http with raw header pairs: fetch would merge two Authorization headers into one. */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  headers: string[],
  body?: unknown,
): Promise<RawRes> {
  const url = new URL(path, base);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  // Raw headers get no Host added, and node's server refuses HTTP/1.1 without one.
  const all = ['Host', url.host, ...headers];
  if (payload !== undefined)
    all.push('Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(payload)));
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: all }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => {
        try {
          const status = res.statusCode ?? 0;
          checkRegistered(
            { method, url: url.href },
            { status, contentType: res.headers['content-type'] ?? null, text },
          );
          resolve({ status, body: text === '' ? undefined : JSON.parse(text) });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}
