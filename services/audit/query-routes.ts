// PLACEHOLDER (owned by the audit-query work): /v1/audit, /v1/keys/:idOrHandle/history, /v1/workspaces/:id/keys?validAt.
import type { RouteDef } from '../http/route.js';
import type { AuditContext } from './context.js';

export function auditQueryRoutes(_ctx: AuditContext): RouteDef[] {
  return [];
}
