// Writes coalesced key use as ApiKeyUsed facts: one per key per flush, decided by the key's own decider.
import { streams } from '../../events/catalog.js';
import { DomainError } from '../domain/errors.js';
import { KeyStatus, type KeyView } from '../../projections/read-model/views.js';
import type { CommandBus, CommandContext } from '../commands/command-bus.js';
import type { ReadSide } from '../commands/read-side.js';
import { apiKeyDecider, type ApiKeyState } from '../domain/api-key.js';
import type { FailedUse, PendingUse } from './usage-recorder.js';

/** The decider's view of a key, from the read model (use facts need no stream read). */
function keyState(k: KeyView): ApiKeyState {
  return {
    exists: true,
    keyId: k.id,
    userId: k.owner.id,
    workspaceId: k.workspaceId,
    status: k.status === KeyStatus.Active ? 'active' : k.status === KeyStatus.Revoked ? 'revoked' : 'expired',
    expiresAt: k.requestedExpiresAt,
    retrievable: k.retrievable,
    successorId: k.rotatedTo,
    graceEndsAt: k.graceEndsAt,
    name: k.name,
    description: k.description,
    alias: k.alias,
  };
}

/** Writes each key's use on its own; answers the uses that could not be written. */
export function usageWriter(bus: CommandBus, read: ReadSide): (uses: readonly PendingUse[]) => Promise<FailedUse[]> {
  return async (uses) => {
    const failed: FailedUse[] = [];
    await Promise.all(
      uses.map(async (u) => {
        const k = read.findKey(u.keyId);
        if (!k) return;
        try {
          const events = apiKeyDecider.decide(
            {
              type: 'RecordApiKeyUse',
              count: u.count,
              firstAt: new Date(u.firstAt),
              lastAt: new Date(u.lastAt),
              lastIp: u.lastIp,
              lastUserAgent: u.lastUserAgent,
              presentation: u.presentation,
              presentations: u.presentations,
            },
            keyState(k),
          );
          const ctx: CommandContext = {
            actor: { type: 'key', id: u.keyId },
            request: { ip: u.lastIp ?? undefined, userAgent: u.lastUserAgent ?? undefined },
          };
          // Use facts do not depend on the key's revision, so they never conflict with other commands;
          // the fixed event id makes a retry of a write whose outcome was unknown idempotent.
          await bus.appendRaw(
            streams.apiKey(u.keyId),
            events,
            ctx,
            'stream_exists',
            u.eventId === null ? undefined : [u.eventId],
          );
        } catch (error) {
          failed.push({ use: u, error, retry: !(error instanceof DomainError || error instanceof TypeError) });
        }
      }),
    );
    return failed;
  };
}
