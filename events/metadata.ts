// Who did it, from where, and why: attached to every event.
export type ActorType = 'user' | 'key' | 'service' | 'system';

export interface Actor {
  readonly type: ActorType;
  readonly id: string;
}

export interface RequestContext {
  readonly ip?: string | undefined;
  readonly userAgent?: string | undefined;
  readonly requestId?: string | undefined;
}

export interface EventMetadata {
  readonly eventId: string;
  readonly occurredAt: string; // ISO-8601 UTC
  readonly actor: Actor;
  readonly request: RequestContext;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly schemaVersion: number;
}

export const SYSTEM_ACTOR: Actor = Object.freeze({ type: 'system', id: 'system' });
