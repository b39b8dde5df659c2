// The read side: the in-memory read model, kept live by one subscription to the store, with read-your-writes
// (waitFor) and the only query methods callers use. Views are readonly: nothing outside the projection mutates them.
import { NotFoundError } from '../domain/errors.js';
import type { StoredEvent } from '../../events/catalog.js';
import type { EventStore, Subscription } from '../../events/store/types.js';
import { ReadModel, type VerifyOptions } from '../../projections/read-model/read-model.js';
import { toImage, type ReadModelImage } from '../../projections/read-model/image.js';
import type {
  InvitationView,
  KeyView,
  Membership,
  UserView,
  VerifyResult,
  WorkspaceView,
} from '../../projections/read-model/views.js';
import type { WorkspaceRole } from '../../events/catalog.js';

type Log = (msg: string, err?: unknown) => void;

export class ReadSide {
  private model = new ReadModel();
  private sub: Subscription | null = null;
  private waiters: Array<{ position: number; resolve: () => void }> = [];
  private caughtUp = false;
  private failure: unknown = null;

  constructor(
    private readonly store: EventStore,
    private readonly log: Log,
  ) {}

  /** Builds the read model from the log (or from `from`, a restored snapshot, and the log after it), then stays live; resolves once caught up. */
  async start(from?: ReadModel): Promise<void> {
    if (this.sub) return;
    if (from !== undefined) {
      for (const l of this.model.listeners()) from.onApplied(l);
      this.model = from;
    }
    this.sub = this.store.subscribeAll(
      (r) => {
        this.model.applyRecorded(r);
        if (this.waiters.length > 0) this.release();
      },
      {
        after: this.model.position,
        onError: (err) => {
          this.failure = err;
          this.log('read model subscription failed', err);
        },
      },
    );
    await this.sub.caughtUp;
    this.caughtUp = true;
  }

  async stop(): Promise<void> {
    await this.sub?.close();
    this.sub = null;
  }

  get isCaughtUp(): boolean {
    return this.caughtUp;
  }

  /** Why the read model stopped following the store, if it has; readiness fails at once on it. */
  get subscriptionError(): unknown {
    return this.failure;
  }

  /** The last global position applied. */
  get position(): number {
    return this.model.position;
  }

  /** Read-your-writes: resolves once this process's read model has applied `position`. */
  waitFor(position: number): Promise<void> {
    if (this.model.position >= position) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ position, resolve }));
  }

  private release(): void {
    const pos = this.model.position;
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (w.position <= pos) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /** Observe each event after it is applied (expiry, throttles, streams). Returns the unsubscribe. */
  onApplied(fn: (e: StoredEvent) => void): () => void {
    this.model.onApplied(fn);
    // From whichever model is current then: a restore (start(from)) moves the observers to another model.
    return () => this.model.offApplied(fn);
  }

  // ---------------------------------------------------------------- verification

  verify(token: string, opts: VerifyOptions = {}): VerifyResult {
    return this.model.verify(token, opts);
  }

  /** The same rules as verify, for a key found by other means (e.g. the key a stream was opened with). */
  check(key: KeyView, opts: VerifyOptions = {}): VerifyResult {
    return this.model.check(key, opts);
  }

  /** A session JWT is honoured only if the ledger recorded its login, it has not ended, and its user is active. */
  sessionActive(sessionId: string, userId: string, now: number): boolean {
    return this.model.sessionActive(sessionId, userId, now);
  }

  // ---------------------------------------------------------------- users

  findUser(userId: string): UserView | undefined {
    return this.model.users.get(userId);
  }

  /** Throws NOT_FOUND. */
  user(userId: string): UserView {
    const u = this.model.users.get(userId);
    if (!u) throw new NotFoundError('user', userId);
    return u;
  }

  userByEmail(email: string): UserView | undefined {
    return this.model.usersByEmail.get(email.trim().toLowerCase());
  }

  users(): IterableIterator<UserView> {
    return this.model.users.values();
  }

  get userCount(): number {
    return this.model.users.size;
  }

  // ---------------------------------------------------------------- workspaces

  /** A workspace that was created (placeholders of corrupt logs are not workspaces). */
  findWorkspace(workspaceId: string): WorkspaceView | undefined {
    const w = this.model.workspaces.get(workspaceId);
    return w === undefined || w.ownerId === '' ? undefined : w;
  }

  /** Throws NOT_FOUND. */
  workspace(workspaceId: string): WorkspaceView {
    const w = this.findWorkspace(workspaceId);
    if (!w) throw new NotFoundError('workspace', workspaceId);
    return w;
  }

  *workspaces(): IterableIterator<WorkspaceView> {
    for (const w of this.model.workspaces.values()) if (w.ownerId !== '') yield w;
  }

  roleOf(workspaceId: string, userId: string): WorkspaceRole | null {
    return this.model.workspaces.get(workspaceId)?.members.get(userId)?.role ?? null;
  }

  /** A user's memberships by workspace id (a live view; roles may be null after removal). */
  membershipsOf(userId: string): ReadonlyMap<string, Membership & { readonly workspaceId: string }> {
    return this.model.membershipsOf(userId);
  }

  findInvitation(invitationId: string): InvitationView | undefined {
    return this.model.invitations.get(invitationId);
  }

  /** Throws NOT_FOUND. */
  invitation(invitationId: string): InvitationView {
    const inv = this.model.invitations.get(invitationId);
    if (!inv) throw new NotFoundError('invitation', invitationId);
    return inv;
  }

  invitations(): IterableIterator<InvitationView> {
    return this.model.invitations.values();
  }

  // ---------------------------------------------------------------- keys

  findKey(keyId: string): KeyView | undefined {
    return this.model.keysById.get(keyId);
  }

  /** Throws NOT_FOUND. */
  key(keyId: string): KeyView {
    const k = this.model.keysById.get(keyId);
    if (!k) throw new NotFoundError('key', keyId);
    return k;
  }

  /** A key by id, or by one of the user's live handles. */
  findKeyFor(userId: string, idOrHandle: string): KeyView | undefined {
    return this.model.findKey(userId, idOrHandle);
  }

  /** The key that holds a user's handle now, if any. */
  handleHolder(userId: string, handle: string): string | undefined {
    return this.model.handles.get(userId)?.get(handle);
  }

  /** A user's keys, oldest first. */
  keysOf(userId: string): readonly KeyView[] {
    return this.model.keysByUser.get(userId) ?? [];
  }

  allKeys(): IterableIterator<KeyView> {
    return this.model.keysById.values();
  }

  get keyCount(): number {
    return this.model.keysById.size;
  }

  /** Plain-data image for rebuild-equality checks. */
  snapshot(): unknown {
    return this.model.snapshot();
  }

  /** The whole read model, every index, as a snapshot stores it. */
  image(): ReadModelImage {
    return toImage(this.model);
  }
}
