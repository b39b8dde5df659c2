// A large ledger written straight through the store port in big batches (no HTTP, no deciders): users, workspaces,
// then key streams of one ApiKeyCreated followed by ApiKeyUsed flushes, as a busy deployment accumulates them.
import { hash } from 'node:crypto';
import { uuidV7 } from '../services/ids.js';
import { join } from 'node:path';
import { SqliteEventStore } from '../events/store/sqlite.js';
import type { NewEvent } from '../events/store/types.js';

const T0 = Date.parse('2026-01-01T00:00:00.000Z');
const USERS = 10;
const WORKSPACES = 3;

function meta(at: number, schemaVersion: number): unknown {
  return {
    eventId: uuidV7(),
    occurredAt: new Date(at).toISOString(),
    actor: { type: 'user', id: 'usr_4f8Q2mZkP0aXy7LbN3cVt1' },
    request: { ip: '10.1.2.3', userAgent: 'curl/8.5.0', requestId: 'req_9hGfT2kLm4Pq8RsW1xYz3A' },
    correlationId: uuidV7(),
    causationId: null,
    schemaVersion,
  };
}

const id = (prefix: string, i: number): string => `${prefix}_${i.toString(36).padStart(22, '0')}`;

/** Writes about `events` events holding `keys` keys into `dir`/ledger.db; returns how many were written. */
export async function writeLedgerLog(dir: string, events: number, keys: number): Promise<number> {
  const store = new SqliteEventStore(join(dir, 'ledger.db'));
  let at = T0;
  const ev = (type: string, data: unknown, v = 1): NewEvent => ({
    id: uuidV7(),
    type,
    data,
    metadata: meta((at += 3), v),
  });
  let written = 0;
  const users = Array.from({ length: USERS }, (_, i) => id('usr', i));
  const wss = Array.from({ length: WORKSPACES }, (_, i) => id('ws', i));
  for (const [i, userId] of users.entries()) {
    const data = {
      userId,
      email: `user${i}@example.com`,
      name: `User ${i}`,
      passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo',
      systemRole: i === 0 ? 'admin' : 'user',
    };
    await store.append(`user-${userId}`, [ev('UserRegistered', data)], 'no_stream');
    written++;
  }
  for (const [w, workspaceId] of wss.entries()) {
    const batch = [ev('WorkspaceCreated', { workspaceId, name: `Workspace ${w}`, ownerId: users[w] })];
    for (const userId of users)
      batch.push(ev('WorkspaceMemberRoleSet', { workspaceId, userId, role: userId === users[w] ? 'owner' : 'member' }));
    await store.append(`workspace-${workspaceId}`, batch, 'no_stream');
    written += batch.length;
  }
  const usesPerKey = Math.max(0, (events - written) / keys - 1);
  let wave: Array<Promise<unknown>> = [];
  for (let k = 0; k < keys; k++) {
    const keyId = id('key', k);
    const digest = hash('sha256', `token-${k}`, 'hex');
    const batch = [
      ev('ApiKeyCreated', {
        keyId,
        userId: users[k % USERS],
        workspaceId: wss[k % WORKSPACES],
        name: `service key ${k}`,
        description: null,
        handle: null,
        alias: null,
        scopes: k % 3 === 0 ? ['data:read', 'data:write'] : null,
        format: 'opaque',
        digest,
        start: `tl_${digest.slice(0, 4)}`,
        expiresAt: k % 2 === 0 ? null : new Date(T0 + 86_400_000 * (400 + (k % 365))).toISOString(),
        sealed: null,
        rotatedFrom: null,
      }),
    ];
    // Spread the uses so the total comes out right: floor or ceil of the average per key.
    const uses = Math.floor(usesPerKey * (k + 1)) - Math.floor(usesPerKey * k);
    for (let u = 0; u < uses; u++) {
      const lastAt = new Date(at).toISOString();
      batch.push(
        ev(
          'ApiKeyUsed',
          {
            keyId,
            count: 1 + (u % 50),
            firstAt: lastAt,
            lastAt,
            lastIp: '10.1.2.3',
            lastUserAgent: 'curl/8.5.0',
            presentation: 'bearer',
            presentations: { bearer: 1 + (u % 50) },
          },
          2,
        ),
      );
    }
    written += batch.length;
    wave.push(store.append(`apikey-${keyId}`, batch, 'no_stream'));
    if (wave.length >= 2000) {
      await Promise.all(wave);
      wave = [];
    }
  }
  await Promise.all(wave);
  await store.close();
  return written;
}
