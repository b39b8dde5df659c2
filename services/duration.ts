// Durations as seconds or `30d` / `12h` / `15m` / `45s`.
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
const MAX_SECONDS = 3153600000; // 100 years

/** Seconds for a duration, or null when the input is not one. Zero is refused unless `allowZero` (a rotation grace may be 0s). */
export function parseDuration(v: unknown, opts: { allowZero?: boolean } = {}): number | null {
  const min = opts.allowZero ? 0 : 1;
  if (typeof v === 'number') return Number.isInteger(v) && v >= min && v <= MAX_SECONDS ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^(\d{1,10})([smhdw]?)$/.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]) * (UNITS[m[2] || 's'] ?? 1);
  return n >= min && n <= MAX_SECONDS ? n : null;
}
