// Strips credentials from URLs before they reach any log line.
const SECRET_PARAMS = /([?&])(api_token|token|access_token)=[^&#]*/gi;

export function sanitizeUrl(url: string): string {
  return url.replace(SECRET_PARAMS, '$1$2=[REDACTED]');
}
