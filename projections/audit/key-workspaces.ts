// The workspace each key's events are about: that of the key's first audit row, which never changes once written.
// Both audit stores keep the answers for the keys seen most recently, so a hot key's uses cost no query.

/** Keys remembered at most (about 100 bytes each); the memory is cleared when full, then refilled. */
const KEY_CACHE = 100_000;

export class KeyWorkspaces {
  private readonly known = new Map<string, string | null>();

  constructor(private readonly limit = KEY_CACHE) {
    if (!(Number.isInteger(limit) && limit > 0)) throw new TypeError('limit must be a positive whole number');
  }

  /** The workspace of the key's first row; undefined when not remembered (null: the row names none). */
  get(keyId: string): string | null | undefined {
    return this.known.get(keyId);
  }

  remember(keyId: string, workspace: string | null): void {
    if (this.known.size >= this.limit && !this.known.has(keyId)) this.known.clear();
    this.known.set(keyId, workspace);
  }
}
