// Under steady load V8 lets the old generation grow to several times what a full GC keeps; a fixed factor bounds the RSS.
import { setFlagsFromString } from 'node:v8';

/** The V8 flag for a heap-growing percentage; null for 0, which leaves V8's own heuristic in place. */
export function heapGrowingFlag(percent: number): string | null {
  if (!Number.isInteger(percent) || percent < 0) throw new TypeError(`heap growing percent: ${percent}`);
  return percent === 0 ? null : `--heap-growing-percent=${percent}`;
}

/** Sets it for this process; V8 reads it each time it sizes the heap after a full GC, so it applies from then on. */
export function applyHeapGrowing(percent: number): void {
  const flag = heapGrowingFlag(percent);
  if (flag !== null) setFlagsFromString(flag);
}
