// Sessions: log in with e-mail and password for a short-lived JWT, log out, and ask who am I.
import type { AppContext } from '../app.js';
import { callerScopes, currentWorkspaceId } from '../auth.js';
import { HttpError } from '../errors.js';
import { route, type RouteDef } from '../route.js';
import { obj, str, arr, nullable } from '../schema.js';
import { userJson, userSchema, workspaceJson, workspaceSchema } from '../views.js';
import { verifyPassword } from '../../crypto/passwords.js';
import { requestMeta } from '../app.js';

export function authRoutes(env: AppContext): RouteDef[] {
  const { ledger } = env.deps;
  return [
    route({
      method: 'POST',
      path: '/v1/auth/login',
      summary: 'Log in with e-mail and password; returns a short-lived session JWT',
      tag: 'sessions',
      auth: 'none',
      body: obj({ email: str({ maxLength: 320 }), password: str({ maxLength: 1024 }) }, ['email', 'password']),
      responses: {
        200: { description: 'session created', schema: obj({ token: str(), tokenType: str(), expiresAt: str({ format: 'date-time' }), user: userSchema }) },
        401: { description: 'wrong e-mail or password' },
        429: { description: 'too many failed attempts' },
      },
      handler: async ({ ctx, body, command }) => {
        const email = (body.email as string).trim().toLowerCase();
        const password = body.password as string;
        const now = ledger.clock().getTime();
        const ip = requestMeta(ctx).ip;
        const accountWait = env.loginThrottleAccount.retryAfter(email, now);
        const wait = Math.max(accountWait, env.loginThrottleIp.retryAfter(ip, now));
        if (wait > 0) {
          // One 'throttled' event per throttled account (or IP) per window: refused requests must not be free writes.
          if (env.throttleReports.first(accountWait > 0 ? `account:${email}` : `ip:${ip}`, now)) await ledger.recordLoginFailure(email, 'throttled', command);
          throw new HttpError(429, 'throttled', 'Too many failed login attempts; try again later.', {
            headers: { 'Retry-After': String(wait) },
            extra: { retryAfter: wait },
          });
        }
        // Counted before the slow password check, so parallel guesses cannot all pass the limit.
        env.loginThrottleAccount.reserve(email, now);
        env.loginThrottleIp.reserve(ip, now);
        const user = ledger.readModel.usersByEmail.get(email) ?? null;
        const ok = await verifyPassword(user?.passwordHash ?? null, password);
        if (!ok || !user || !user.active) {
          await ledger.recordLoginFailure(email, !user ? 'unknown_user' : !ok ? 'bad_password' : 'inactive', command);
          throw new HttpError(401, 'invalid_credentials', 'The e-mail or password is incorrect.');
        }
        env.loginThrottleAccount.reset(email);
        env.loginThrottleIp.release(ip, now);
        const sessionId = ledger.ids.id('ses');
        const issuedAt = ledger.clock();
        const expiresAt = new Date(issuedAt.getTime() + env.deps.config.sessionTtlSeconds * 1000);
        const token = await ledger.jwt.signSession(user.id, sessionId, issuedAt, expiresAt);
        await ledger.recordLoginSuccess(user.id, sessionId, expiresAt, { ...command, actor: { type: 'user', id: user.id } });
        ctx.set('Cache-Control', 'no-store');
        return { token, tokenType: 'Bearer', expiresAt: expiresAt.toISOString(), user: userJson(user) };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/auth/logout',
      summary: 'End the current session',
      tag: 'sessions',
      auth: 'required',
      responses: { 204: { description: 'session ended' }, 400: { description: 'the credential is not a session' } },
      handler: async ({ ctx, caller, command }) => {
        if (caller.kind !== 'session' || caller.sessionId === null) {
          throw new HttpError(400, 'not_a_session', 'Only a login session can log out; revoke API keys instead.');
        }
        await ledger.logout(caller.user.id, caller.sessionId, command);
        ctx.status = 204;
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/v1/auth/me',
      summary: 'Who is calling, with which credential and scopes',
      tag: 'sessions',
      auth: 'required',
      responses: {
        200: {
          description: 'the caller',
          schema: obj({
            user: userSchema,
            workspace: nullable(workspaceSchema),
            credential: obj({ kind: str({ enum: ['session', 'api_key'] }), keyId: str(), scheme: str(), expiresAt: nullable(str()) }),
            scopes: arr(str()),
            role: nullable(str()),
          }),
        },
      },
      handler: ({ caller }) => {
        const wsId = currentWorkspaceId(caller);
        const ws = wsId ? ledger.readModel.workspaces.get(wsId) : undefined;
        const expires = caller.key ? caller.key.requestedExpiresAt : caller.sessionExpiresAt;
        return {
          user: userJson(caller.user),
          workspace: ws ? workspaceJson(ws) : null,
          credential: {
            kind: caller.kind,
            ...(caller.key ? { keyId: caller.key.id } : {}),
            scheme: caller.scheme,
            expiresAt: expires === null ? null : new Date(expires).toISOString(),
          },
          scopes: callerScopes(ledger, caller),
          role: wsId ? ledger.roleOf(wsId, caller.user.id) : null,
        };
      },
    }),
  ];
}
