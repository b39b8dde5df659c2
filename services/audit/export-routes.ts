// PLACEHOLDER (owned by the export work): /v1/audit/export streaming JSONL/CSV with a signed manifest.
import type { RouteDef } from '../http/route.js';
import type { AuditContext } from './context.js';

export function auditExportRoutes(_ctx: AuditContext): RouteDef[] {
  return [];
}
