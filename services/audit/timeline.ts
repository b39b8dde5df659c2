// PLACEHOLDER (owned by the audit-query work): derived tables for point-in-time answers.
import type { AuditExtension } from './audit-db.js';

export const auditExtensions: AuditExtension[] = [];
