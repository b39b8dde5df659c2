// Sessions: log in with e-mail and password for a short-lived JWT, log out, and ask who am I.
import type { AppContext } from '../context.js';
import { authorize, callerScopes, currentWorkspaceId } from '../auth.js';
import { accountResource } from '../../access.js';
import { HttpError } from '../errors.js';
import { route, type RouteDef } from '../route.js';
import { z } from 'zod';
import { password } from '../../schemas/inputs.js';
import { instantOut, userJson, userSchema, workspaceJson, workspaceSchema } from '../views.js';
import { verifyPassword } from '../../crypto/passwords.js';
import { requestMeta } from '../context.js';
import { accountKey, throttled } from '../password-guard.js';

export function authRoutes(env: AppContext): RouteDef[] {
  const { ledger } = env.deps;
  return [
    route({
      method: 'POST',
      path: '/v1/auth/login',
      summary: 'Log in with e-mail and password; returns a short-lived session JWT',
      tag: 'sessions',
      auth: 'none',
      // Any e-mail string: a malformed one is an unknown account (401), not a validation error.
      body: z.strictObject({ email: z.string().max(320), password }),
      responses: {
        200: {
          description: 'session created',
          schema: z.object({ token: z.string(), tokenType: z.string(), expiresAt: instantOut, user: userSchema }),
        },
        401: { description: 'wrong e-mail or password' },
        429: { description: 'too many failed attempts' },
      },
      handler: async ({ ctx, body, command }) => {
        const email = accountKey(body.email);
        const ip = requestMeta(ctx).ip;
        const user = ledger.read.userByEmail(email) ?? null;
        let passwordOk = false;
        const reason = (): 'unknown_user' | 'bad_password' | 'inactive' =>
          user === null ? 'unknown_user' : !passwordOk ? 'bad_password' : 'inactive';
        const outcome = await env.passwords.attempt(
          email,
          ip,
          async () => {
            passwordOk = await verifyPassword(user?.passwordHash ?? null, body.password);
            return passwordOk && user !== null && user.active;
          },
          // Written (and applied here) before the 401: every instance's throttle counts it from the log.
          () => ledger.users.recordLoginFailure(email, reason(), command),
        );
        if (!outcome.ok && outcome.retryAfter !== null) {
          // One 'throttled' event per throttled account (or IP) per window: refused requests must not be free writes.
          if (env.passwords.firstThrottle(email, ip))
            await ledger.users.recordLoginFailure(email, 'throttled', command);
          env.httpMetrics.login('throttled');
          env.httpMetrics.throttled('login');
          throw throttled(outcome.retryAfter);
        }
        if (!outcome.ok || user === null) {
          env.httpMetrics.login(reason());
          throw new HttpError(401, 'invalid_credentials', 'The e-mail or password is incorrect.');
        }
        const sessionId = ledger.ids.id('ses');
        const issuedAt = ledger.clock();
        const expiresAt = new Date(issuedAt.getTime() + env.deps.config.sessionTtlSeconds * 1000);
        const token = await ledger.jwt.signSession(user.id, sessionId, issuedAt, expiresAt);
        await ledger.users.recordLoginSuccess(user.id, sessionId, expiresAt, {
          ...command,
          actor: { type: 'user', id: user.id },
        });
        env.httpMetrics.login('success');
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
        authorize(caller, 'session.logout', accountResource(ledger.read, caller.user.id), {
          what: 'user',
          id: caller.user.id,
        });
        if (caller.sessionId === null)
          throw new HttpError(400, 'not_a_session', 'Only a login session can log out; revoke API keys instead.');
        await ledger.users.logout(caller.user.id, caller.sessionId, command);
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
          schema: z.object({
            user: userSchema,
            workspace: workspaceSchema.nullable(),
            credential: z.object({
              kind: z.enum(['session', 'api_key']),
              keyId: z.string().optional().describe('when the credential is an API key'),
              scheme: z.string(),
              expiresAt: instantOut.nullable(),
            }),
            scopes: z.array(z.string()),
            role: z.string().nullable(),
          }),
        },
      },
      handler: ({ caller }) => {
        const wsId = currentWorkspaceId(caller);
        const ws = wsId ? ledger.read.findWorkspace(wsId) : undefined;
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
          scopes: callerScopes(caller),
          role: wsId ? ledger.read.roleOf(wsId, caller.user.id) : null,
        };
      },
    }),
  ];
}
