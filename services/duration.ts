// Durations as seconds or `30d` / `12h` / `15m` / `45s`.
const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };

/** Seconds for a duration, or null when the input is not one. */
export function parseDuration(v: unknown): number | null {
  if (typeof v === 'number') return Number.isInteger(v) && v > 0 && v <= 3153600000 ? v : null;
  if (typeof v !== 'string') return null;
  const m = /^(\d{1,10})([smhdw]?)$/.exec(v.trim());
  if (!m) return null;
  const n = Number(m[1]) * (UNITS[m[2] || 's'] ?? 1);
  return n > 0 && n <= 3153600000 ? n : null;
}
