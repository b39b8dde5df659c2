// Strict ISO-8601 instants: an impossible calendar date is refused, never rolled over into the next month.
const ISO_INSTANT = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?$/i;

/**
 * An ISO-8601 / RFC 3339 date-time as epoch ms, or null. Strict: the calendar date must exist (no 2026-02-30) and hours,
 * minutes and seconds be in range; without an offset the time is UTC (never the server's local zone).
 */
export function parseIsoInstant(raw: string): number | null {
  const m = ISO_INSTANT.exec(raw);
  if (!m) return null;
  const [y, mo, d, h, mi, sec] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? '0'].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (
    day.getUTCFullYear() !== y ||
    day.getUTCMonth() !== mo - 1 ||
    day.getUTCDate() !== d ||
    h > 23 ||
    mi > 59 ||
    sec > 59
  )
    return null;
  const ms = Date.parse(m[7] === undefined ? `${raw}Z` : raw);
  return Number.isNaN(ms) ? null : ms;
}
