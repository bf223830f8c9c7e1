// GET /api/upstreams/:id/lifetime and GET /api/report (docs/contract.md "Admin API"):
// thin routes over the analysis report builders.
import { Hono } from 'hono';
import {
  type AnalysisConfig,
  buildReport,
  buildUpstreamReport,
  type Report,
  type UpstreamReport,
} from '../analysis/index.js';
import type { ObservationStore } from '../store/types.js';

export interface ReportApiOptions {
  store: ObservationStore;
  config: AnalysisConfig;
  now?: () => number;
  /** Where reports are built (the store process, off the forwarding thread); default: here. */
  source?: ReportSource | undefined;
}

/** Builds the report over the store. */
export interface ReportSource {
  report(): Promise<Report>;
  upstream(id: string): Promise<UpstreamReport | null>;
}

export function reportApi({ store, config, now, source }: ReportApiOptions): Hono {
  const app = new Hono();
  const reports: ReportSource = source ?? {
    report: () => buildReport(store, config, { now }),
    upstream: (id) => buildUpstreamReport(store, id, config, { now }),
  };

  app.get('/api/upstreams/:id/lifetime', async (c) => {
    const id = c.req.param('id');
    const report = await reports.upstream(id);
    if (!report) {
      return c.json(
        { error: `upstream "${id}" is not known; GET /api/upstreams lists the configured ones` },
        404,
      );
    }
    return c.json({ upstream: report.id, ...report.lifetime });
  });

  app.get('/api/report', async (c) => {
    const only = c.req.query('upstream');
    if (!only) return c.json(await reports.report());
    const upstream = await reports.upstream(only);
    if (!upstream) {
      return c.json(
        { error: `upstream "${only}" is not known; GET /api/upstreams lists the configured ones` },
        404,
      );
    }
    return c.json({ generatedAt: new Date((now ?? Date.now)()).toISOString(), upstreams: [upstream] });
  });

  // The migration view (docs/eras.md): which hashed callers speak which revision to which upstream.
  app.get('/api/migration', async (c) => {
    const report = await buildReport(store, config, { now });
    const callers = report.upstreams.flatMap((u) => u.migration.map((m) => ({ upstream: u.id, ...m })));
    const upstreams = report.upstreams.map((u) => ({
      id: u.id,
      sessionModel: u.sessionModel,
      protocolVersions: u.protocolVersions,
    }));
    return c.json({ generatedAt: report.generatedAt, upstreams, callers });
  });

  return app;
}
