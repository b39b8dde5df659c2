// GET /v1/audit/export (JSONL with a signed trailer, or CSV) and GET /v1/audit/export/manifest (the CSV's signed sidecar).
// Both pin a ledger position first, so an export is a consistent snapshot while new events keep arriving.
import type { Context } from 'koa';
import type { ServerResponse } from 'node:http';
import { HttpError } from '../http/errors.js';
import { route, type QueryOf, type RouteDef } from '../http/route.js';
import { z } from 'zod';
import { anyObject } from '../http/views.js';
import type { AuditContext } from './context.js';
import { CSV_HEADER } from '../../projections/audit/row.js';
import { buildManifest, writeRecords, type ExportSpec } from './export.js';
import { auditFilterQuery, parseAuditFilters, type AuditFilters } from './filters.js';
import { signManifest, type ExportFormat, type SignedManifest } from './manifest.js';
import { auditScope } from './query-routes.js';

const formatQuery = z
  .enum(['jsonl', 'csv'])
  .describe('jsonl (default; ends with a signed manifest line) or csv (signed manifest at the X-Audit-Manifest URL)');
const toPositionQuery = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,15})$/)
  .describe('last ledger position to include (default: the current head)');
const exportQuery = { format: formatQuery, ...auditFilterQuery, toPosition: toPositionQuery };
type ExportQuery = QueryOf<typeof exportQuery>;

const CONTENT_TYPE: Record<ExportFormat, string> = {
  jsonl: 'application/x-ndjson; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
};

/** The client went away: stop quietly, it is not an error. */
class ClientGone extends Error {}

/** Resolves the snapshot position: the requested one (once the audit store holds it), or the head the read model has seen. */
async function pinPosition(ctx: AuditContext, requested: string | undefined): Promise<number> {
  if (ctx.projection.failed)
    throw new HttpError(503, 'audit_unavailable', 'The audit projection is stopped; exports are unavailable.');
  const head = ctx.ledger.read.position;
  if (requested === undefined) {
    await ctx.projection.caughtUp(head);
    return ctx.projection.position;
  }
  const p = Number(requested);
  if (p > head)
    throw new HttpError(400, 'invalid', 'toPosition is beyond the ledger head.', {
      attr: 'toPosition',
      type: 'validation_error',
      extra: { head },
    });
  await ctx.projection.caughtUp(p);
  return p;
}

function specFrom(
  filters: AuditFilters,
  scope: readonly string[] | null,
  query: ExportQuery,
  toPosition: number,
): ExportSpec {
  const format: ExportFormat = query.format ?? 'jsonl';
  return { filters, scope, format, toPosition };
}

/** Same filters as the export, plus the pinned position: where the CSV's signed manifest lives. */
function manifestUrl(query: ExportQuery, toPosition: number): string {
  const q = new URLSearchParams();
  q.set('format', 'csv');
  for (const [k, v] of Object.entries(query))
    if (Object.hasOwn(auditFilterQuery, k) && v !== undefined && v !== '') q.set(k, v);
  q.set('toPosition', String(toPosition));
  return `/v1/audit/export/manifest?${q.toString()}`;
}

/** Waits until `out` can take more (or is gone); between pages with no backpressure, yields to the event loop. */
function writer(out: ServerResponse, isGone: () => boolean): (chunk: Buffer) => Promise<void> {
  return (chunk) =>
    new Promise<void>((resolve, reject) => {
      if (isGone()) return reject(new ClientGone());
      if (out.write(chunk)) return setImmediate(resolve);
      const done = (): void => {
        out.off('drain', done);
        out.off('close', done);
        if (isGone()) reject(new ClientGone());
        else resolve();
      };
      out.once('drain', done);
      out.once('close', done);
    });
}

async function streamExport(actx: AuditContext, ctx: Context, spec: ExportSpec, query: ExportQuery): Promise<void> {
  const out = ctx.res;
  const started = process.hrtime.bigint();
  ctx.respond = false; // Koa steps aside: we write (and end, or cut) the response ourselves
  ctx.status = 200;
  ctx.set('Content-Type', CONTENT_TYPE[spec.format]);
  ctx.set('Content-Disposition', `attachment; filename="audit-export-${spec.toPosition}.${spec.format}"`);
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Audit-To-Position', String(spec.toPosition));
  if (spec.format === 'csv') {
    const url = manifestUrl(query, spec.toPosition);
    ctx.set('Link', `<${url}>; rel="describedby"; type="application/json"`);
    ctx.set('X-Audit-Manifest', url);
  }
  out.writeHead(200);
  let gone = false;
  let finished = false;
  out.once('finish', () => (finished = true));
  out.once('close', () => (gone = !finished));
  const write = writer(out, () => gone);
  try {
    if (spec.format === 'csv') await write(Buffer.from(CSV_HEADER, 'utf8'));
    const totals = await writeRecords(actx.store, spec, write);
    if (spec.format === 'jsonl') {
      const signed = signManifest(
        await buildManifest(actx.store, spec, totals, actx.signingKey.kid, actx.ledger.clock()),
        actx.signingKey,
      );
      out.end(`${JSON.stringify(signed)}\n`);
    } else out.end();
    actx.metrics
      .counter('ledger_audit_exports_total', 'Audit exports completed', ['format'])
      .inc({ format: spec.format });
    actx.logger.info(
      {
        format: spec.format,
        count: totals.count,
        toPosition: spec.toPosition,
        ms: Number(process.hrtime.bigint() - started) / 1e6,
      },
      'audit export',
    );
  } catch (err) {
    if (err instanceof ClientGone) {
      actx.logger.info({ toPosition: spec.toPosition }, 'audit export: client disconnected');
      return;
    }
    // Never end a broken export cleanly: cutting the connection leaves a file without a manifest, which fails verification.
    actx.logger.error({ err, toPosition: spec.toPosition }, 'audit export failed mid-stream');
    actx.metrics.counter('ledger_audit_exports_failed_total', 'Audit exports cut by an error').inc();
    out.destroy(err as Error);
  }
}

export function auditExportRoutes(actx: AuditContext): RouteDef[] {
  return [
    route({
      method: 'GET',
      path: '/v1/audit/export',
      summary: 'Export the audit trail (filtered, oldest first) as JSONL or CSV, closed by a signed manifest',
      tag: 'audit',
      auth: 'required',
      urlToken: true,
      query: exportQuery,
      responses: {
        200: {
          description: 'JSONL records then one {"manifest","signature"} line; or CSV (see the X-Audit-Manifest header)',
          contentType: ['application/x-ndjson', 'text/csv'],
        },
      },
      handler: async ({ ctx, query: q, caller }) => {
        const filters = parseAuditFilters(q);
        // The same scoping as GET /v1/audit: only events about workspaces where the caller holds audit:export.
        const scope = auditScope(actx.ledger, caller, filters, 'audit:export');
        const toPosition = await pinPosition(actx, q.toPosition);
        await streamExport(actx, ctx, specFrom(filters, scope, q, toPosition), q);
        return undefined;
      },
    }),
    route({
      method: 'GET',
      path: '/v1/audit/export/manifest',
      summary: 'The signed manifest of an export at a pinned position (the sidecar of a CSV export)',
      tag: 'audit',
      auth: 'required',
      urlToken: true,
      query: exportQuery,
      responses: {
        200: { description: 'the signed manifest', schema: z.object({ manifest: anyObject, signature: anyObject }) },
      },
      handler: async ({ ctx, query: q, caller }): Promise<SignedManifest> => {
        const filters = parseAuditFilters(q);
        if (q.toPosition === undefined)
          throw new HttpError(400, 'required', 'toPosition is required (take it from the export).', {
            attr: 'toPosition',
            type: 'validation_error',
          });
        const scope = auditScope(actx.ledger, caller, filters, 'audit:export');
        const spec = specFrom(filters, scope, q, await pinPosition(actx, q.toPosition));
        // Recomputed by rendering the same rows again: same rows, same bytes, same digest.
        const totals = await writeRecords(actx.store, spec, () => new Promise((resolve) => setImmediate(resolve)));
        ctx.set('Cache-Control', 'no-store');
        return signManifest(
          await buildManifest(actx.store, spec, totals, actx.signingKey.kid, actx.ledger.clock()),
          actx.signingKey,
        );
      },
    }),
  ];
}
