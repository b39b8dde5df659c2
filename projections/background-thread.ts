// Background threads (audit writer, snapshot writer) run at the lowest CPU priority, so on a machine with few cores the
// request loop's thread is scheduled first; on Linux a nice value is per thread.
import { setPriority } from 'node:os';

const LOWEST = 19;

/** Lowers the calling thread's priority; a platform that refuses it leaves the thread as it was (only speed differs). */
export function lowerThreadPriority(): void {
  try {
    setPriority(LOWEST);
  } catch (err) {
    // EACCES/ENOSYS on some platforms: the thread still works, it just competes with the request loop as before.
    if (!(err instanceof Error && 'code' in err)) throw err;
  }
}
