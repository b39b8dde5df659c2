// RFC 7662 introspection and RFC 7009 revocation, form-encoded or JSON.
import type { AppContext } from '../context.js';
import { allowed, tenants } from '../auth.js';
import { demandVerifier } from './keys.js';
import { route, type RouteDef } from '../route.js';
import { z } from 'zod';
import { looksLikeJwt } from '../../crypto/tokens.js';
import { keyStatus } from '../views.js';

const tokenBody = z.strictObject({ token: z.string().max(8192), token_type_hint: z.string().max(64).optional() });

/** RFC 7662: an inactive token gets only `active`; the other members describe an active one. */
const introspection = z.object({
  active: z.boolean(),
  token_type: z.enum(['api_key', 'session']).optional(),
  scope: z.string().optional(),
  client_id: z.string().optional(),
  username: z.string().optional(),
  sub: z.string().optional(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  jti: z.string().optional(),
  iat: z.int().optional(),
  exp: z.int().optional(),
  workspace_id: z.string().optional(),
});

export function oauthRoutes(env: AppContext): RouteDef[] {
  const { ledger } = env.deps;
  return [
    route({
      method: 'POST',
      path: '/oauth/introspect',
      summary: 'RFC 7662 token introspection (needs keys:verify); an inactive token gets only {"active":false}',
      tag: 'verification',
      auth: 'required',
      form: true,
      body: tokenBody,
      responses: { 200: { description: 'introspection result', schema: introspection } },
      handler: async ({ ctx, caller, body }) => {
        demandVerifier(ledger, caller);
        // A session token is introspectable only by its own user or a verifier in one of the user's workspaces.
        const sharesTenant = (userId: string): boolean => {
          const mine = tenants(ledger, caller, 'key.verify');
          if (mine === null || userId === caller.user.id) return true;
          const theirs = ledger.read.membershipsOf(userId);
          return mine.some((ws) => (theirs.get(ws)?.role ?? null) !== null);
        };
        ctx.set('Cache-Control', 'no-store');
        const token = body.token;
        const now = ledger.clock().getTime();
        const r = ledger.verify(token, { now });
        // Another tenant's token is inactive to this caller: no owner e-mail, no workspace id.
        if (r.valid && r.key && allowed(caller, 'key.verify', { kind: 'workspace', workspaceId: r.key.workspaceId })) {
          const k = r.key;
          ledger.recordUse(k, 'direct', now, null, null);
          return {
            active: true,
            token_type: 'api_key',
            scope: (k.scopes === null ? [] : [...k.scopes]).join(' '),
            client_id: k.id,
            username: k.owner.email,
            sub: k.owner.id,
            iss: ledger.jwt.settings.issuer,
            aud: ledger.jwt.settings.audience,
            jti: k.id,
            iat: Math.floor(k.createdAt / 1000),
            ...(Number.isFinite(k.expiresAt) ? { exp: Math.floor(k.expiresAt / 1000) } : {}),
            workspace_id: k.workspaceId,
          };
        }
        if (r.code === 'NOT_FOUND' && looksLikeJwt(token)) {
          const s = await ledger.jwt.verifySession(token, new Date(now));
          const user = s.ok ? ledger.read.findUser(s.claims.sub) : undefined;
          if (s.ok && user && ledger.read.sessionActive(s.claims.sid, user.id, now) && sharesTenant(user.id)) {
            return {
              active: true,
              token_type: 'session',
              sub: user.id,
              username: user.email,
              exp: s.claims.exp,
              iat: s.claims.iat,
              iss: s.claims.iss,
              aud: s.claims.aud,
              jti: s.claims.sid,
            };
          }
        }
        return { active: false };
      },
    }),
    route({
      method: 'POST',
      path: '/oauth/revoke',
      summary: 'RFC 7009 revocation: whoever holds a token may revoke it; 200 even for unknown tokens',
      tag: 'verification',
      auth: 'none',
      form: true,
      body: tokenBody,
      responses: { 200: { description: 'revoked, or nothing to revoke' } },
      handler: async ({ ctx, body, command }) => {
        const token = body.token;
        const now = ledger.clock().getTime();
        const r = ledger.verify(token, { now });
        if (r.key && keyStatus(r.key, now) !== 'revoked') {
          await ledger.keys.revoke(r.key.id, 'revoked by token holder (RFC 7009)', {
            ...command,
            actor: { type: 'key', id: r.key.id },
          });
        } else if (r.code === 'NOT_FOUND' && looksLikeJwt(token)) {
          const s = await ledger.jwt.verifySession(token, new Date(now));
          if (s.ok && ledger.read.sessionActive(s.claims.sid, s.claims.sub, now)) {
            await ledger.users.logout(s.claims.sub, s.claims.sid, {
              ...command,
              actor: { type: 'user', id: s.claims.sub },
            });
          }
        }
        ctx.status = 200;
        ctx.body = '';
        return undefined;
      },
    }),
  ];
}
