// The web console: static assets built by Vite (console/ → dist/console), served at /console under a strict CSP.
// Any other path under /console answers index.html, so the console's own routes survive a reload.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Context, Next } from 'koa';
import send from 'koa-send';
import { HttpError } from './errors.js';

/** Where `npm run build` puts the console, next to the compiled server (dist/services/http → dist/console). */
export const CONSOLE_DIR = fileURLToPath(new URL('../../console/', import.meta.url));

/** No inline script or style, nothing from another origin, no framing; the API is same-origin. */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const ASSET = /^assets\/[A-Za-z0-9_.-]{1,200}$/;

export function consoleAssets(dir: string = CONSOLE_DIR) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.path !== '/console' && !ctx.path.startsWith('/console/')) return next();
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD')
      throw new HttpError(405, 'method_not_allowed', `${ctx.method} is not allowed here; use GET, HEAD.`, {
        headers: { Allow: 'GET, HEAD' },
      });
    ctx.set('Content-Security-Policy', CONSOLE_CSP);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Referrer-Policy', 'no-referrer');
    const rest = ctx.path.slice('/console/'.length);
    if (rest.startsWith('assets/')) {
      if (!ASSET.test(rest)) throw new HttpError(404, 'not_found', 'No such asset.');
      // File names carry a content hash: they never change.
      ctx.set('Cache-Control', 'public, max-age=31536000, immutable');
      await serve(ctx, rest, dir);
      return;
    }
    if (!existsSync(`${dir}index.html`))
      throw new HttpError(503, 'console_unavailable', 'The console is not built; run `npm run build`.', {
        type: 'server_error',
      });
    ctx.set('Cache-Control', 'no-store');
    await serve(ctx, 'index.html', dir);
  };
}

async function serve(ctx: Context, file: string, root: string): Promise<void> {
  try {
    await send(ctx, file, { root, index: false, gzip: false, brotli: false });
  } catch (err) {
    if ((err as { status?: unknown }).status !== 404) throw err;
    ctx.remove('Cache-Control');
    throw new HttpError(404, 'not_found', 'No such asset.');
  }
}
