// The audit filters shared by queries and exports: parsed once and validated here, turned into one parameterized
// WHERE clause by projections/audit/where.ts.
import { EVENT_TYPES } from '../../events/catalog.js';
import { HttpError } from '../http/errors.js';
import { z } from 'zod';
import { dateTime } from '../schemas/inputs.js';
import { parseIsoInstant } from '../domain/instant.js';
import type { AuditFilters } from '../../projections/audit/where.js';

export { auditWhere, selectsEverything, type AuditFilters } from '../../projections/audit/where.js';

const ID = /^[A-Za-z0-9_:.@-]{1,128}$/;
const TOKEN_DIGEST = /^[0-9a-fA-F]{64}$/;
const id = (description: string): z.ZodString => z.string().regex(ID).describe(description);

/** Query-string schemas (documented in OpenAPI) for the filters. */
export const auditFilterQuery = {
  keyId: id('events about this key'),
  userId: id('events about this user (subject, owner or member)'),
  workspaceId: id('events about this workspace'),
  actorId: id('events done by this actor (user, key, service or system id)'),
  type: z.string().max(1000).describe('event type, or several separated by commas (e.g. ApiKeyRevoked,ApiKeyExpired)'),
  tokenDigest: z.string().regex(TOKEN_DIGEST).describe('SHA-256 hex of a token: finds the key it belonged to'),
  from: dateTime.describe('occurredAt ≥ from (ISO-8601)'),
  to: dateTime.describe('occurredAt < to (ISO-8601)'),
};

/** The filter parameters of a query string, as validated by `auditFilterQuery` (or any record of strings). */
export type AuditFilterQuery = { readonly [K in keyof typeof auditFilterQuery]?: string };

function bad(attr: string, detail: string): HttpError {
  return new HttpError(400, 'invalid', detail, { attr, type: 'validation_error' });
}

function isoTime(raw: string, attr: string): string {
  const ms = parseIsoInstant(raw);
  if (ms === null) throw bad(attr, `${attr} must be an ISO-8601 date-time (e.g. 2026-01-31T12:00:00Z).`);
  return new Date(ms).toISOString();
}

/** Reads the filters out of a query string; anything malformed is a 400 naming the parameter. */
export function parseAuditFilters(query: AuditFilterQuery): AuditFilters {
  const f: { -readonly [K in keyof AuditFilters]: AuditFilters[K] } = {};
  for (const k of ['keyId', 'userId', 'workspaceId', 'actorId'] as const) {
    const v = query[k];
    if (v === undefined || v === '') continue;
    if (!ID.test(v)) throw bad(k, `${k} is not a valid id.`);
    f[k] = v;
  }
  if (query.type !== undefined && query.type !== '') {
    const types = query.type.split(',').map((t) => t.trim());
    for (const t of types)
      if (!(EVENT_TYPES as readonly string[]).includes(t))
        throw bad('type', `Unknown event type ${JSON.stringify(t.slice(0, 64))}.`);
    f.type = [...new Set(types)];
  }
  if (query.tokenDigest !== undefined && query.tokenDigest !== '') {
    if (!TOKEN_DIGEST.test(query.tokenDigest))
      throw bad('tokenDigest', 'tokenDigest must be 64 hex characters (SHA-256 of the token).');
    f.tokenDigest = query.tokenDigest.toLowerCase();
  }
  if (query.from !== undefined && query.from !== '') f.from = isoTime(query.from, 'from');
  if (query.to !== undefined && query.to !== '') f.to = isoTime(query.to, 'to');
  if (f.from !== undefined && f.to !== undefined && f.from >= f.to) throw bad('to', 'to must be after from.');
  return f;
}
