// RFC 7662 introspection and RFC 7009 revocation, form-encoded or JSON, and the RFC 8414 metadata announcing them.
import type { AppContext } from '../context.js';
import { keyActor, sessionActor } from '../../access.js';
import { effectiveOf } from '../../domain/policy.js';
import { PERMISSIONS } from '../../domain/permissions.js';
import { allowed, tenants } from '../auth.js';
import { demandVerifier } from './keys.js';
import { route, type RouteDef } from '../route.js';
import { z } from 'zod';
import { looksLikeJwt } from '../../crypto/tokens.js';
import { keyStatus } from '../views.js';

const tokenBody = z.strictObject({
  token: z.string().max(8192),
  token_type_hint: z.string().max(64).optional(),
  client_id: z.string().max(256).optional().describe('client_secret_post, or a public client (revocation)'),
  client_secret: z.string().max(8192).optional().describe('client_secret_post: the token of the key client_id names'),
});

/** RFC 8414 authorization server metadata: only what this server offers (no authorization or token endpoint). */
const metadata = z.object({
  issuer: z.string(),
  introspection_endpoint: z.string(),
  introspection_endpoint_auth_methods_supported: z.array(z.string()),
  revocation_endpoint: z.string(),
  revocation_endpoint_auth_methods_supported: z.array(z.string()),
  jwks_uri: z.string(),
  scopes_supported: z.array(z.string()),
  response_types_supported: z.array(z.string()),
  grant_types_supported: z.array(z.string()),
  service_documentation: z.string(),
});

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
      summary:
        'RFC 7662 token introspection by a client with keys:verify (Basic, client_secret_post or a token); an inactive token gets only {"active":false}',
      tag: 'verification',
      auth: 'oauth-client',
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
        const now = ledger.now();
        const r = ledger.verify(token, { now });
        // Another tenant's token is inactive to this caller: no owner e-mail, no workspace id.
        if (r.valid && r.key && allowed(caller, 'key.verify', { kind: 'workspace', workspaceId: r.key.workspaceId })) {
          const k = r.key;
          ledger.recordUse(k, 'direct', now, null, null);
          return {
            active: true,
            token_type: 'api_key',
            // What the key may do now (its scopes ∩ its owner's role), as /v1/auth/me reports it.
            scope: effectiveOf(keyActor(k), k.workspaceId).join(' '),
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
            const ws = user.defaultWorkspaceId;
            return {
              active: true,
              token_type: 'session',
              scope: (ws === null ? [] : effectiveOf(sessionActor(ledger.read, user), ws)).join(' '),
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
      summary:
        'RFC 7009 revocation: whoever holds a token may revoke it (public clients too; client credentials sent must be valid); 200 even for unknown tokens',
      tag: 'verification',
      auth: 'oauth-public',
      form: true,
      body: tokenBody,
      responses: { 200: { description: 'revoked, or nothing to revoke' } },
      handler: async ({ ctx, body, command }) => {
        const token = body.token;
        const now = ledger.now();
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
    route({
      method: 'GET',
      path: '/.well-known/oauth-authorization-server',
      summary:
        'RFC 8414 authorization server metadata: the introspection and revocation endpoints, their client authentication, the JWKS',
      tag: 'verification',
      auth: 'none',
      responses: { 200: { description: 'metadata', schema: metadata } },
      handler: ({ ctx }) => {
        // The issuer is where the client reached this server: RFC 8414 clients check that they match.
        const issuer = `${ctx.protocol}://${ctx.host}`;
        ctx.set('Cache-Control', 'public, max-age=300');
        return {
          issuer,
          introspection_endpoint: `${issuer}/oauth/introspect`,
          introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
          revocation_endpoint: `${issuer}/oauth/revoke`,
          revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
          jwks_uri: `${issuer}/.well-known/jwks.json`,
          scopes_supported: [...PERMISSIONS],
          response_types_supported: [],
          grant_types_supported: [],
          service_documentation: `${issuer}/docs`,
        };
      },
    }),
  ];
}
