/** @jsxRuntime automatic */
/** @jsxImportSource hono/jsx */
// The dashboard at `/` (docs/contract.md "Interfaces"): server-rendered pages over the store,
// mounted with `app.route('/', dashboard({...}))`. See access.ts for the admin token.
import { type Context, Hono } from 'hono';
import type { Child } from 'hono/jsx';
import { z } from 'zod';
import { buildUpstreamReport } from '../../analysis/report.js';
import { PROBE_MODES } from '../../config/schema.js';
import { parseIntervalsText } from '../../probe/intervals.js';
import type { ProbeResult } from '../../probe/result.js';
import type { ObservationStore } from '../../store/types.js';
import { dashboardAccess, safeEqual, safeNext, signIn } from './access.js';
import {
  type AnalysisSource,
  loadOverview,
  loadUpstreamDetail,
  type UpstreamDetail,
  type UpstreamSummary,
} from './model.js';
import { MountContext, mountOf, underMount } from './mount.js';
import { LoginPage, NotFoundPage, OverviewPage, UpstreamPage } from './pages.js';
import { ProbeRunPage, UnknownRunPage } from './runPage.js';

export { ADMIN_COOKIE, adminCookieMatches, adminCookieValue } from './access.js';
export type { AnalysisSource, LifetimeView, RecommendationView } from './model.js';

/** What the no-JavaScript probe form submits (the live form sends the same as JSON to /api/probes). */
export const probeFormSchema = z.object({
  upstream: z.string().min(1),
  mode: z.enum(PROBE_MODES),
  intervals: z
    .string()
    .optional()
    .transform((text, ctx) => {
      const parsed = parseIntervalsText(text ?? '');
      if (parsed.ok) return parsed.seconds;
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }),
});
export type ProbeFormInput = z.output<typeof probeFormSchema>;

export interface DashboardOptions {
  store: ObservationStore;
  /** `admin.token`: when set, pages need the bearer header or the sign-in cookie. */
  adminToken?: string | undefined;
  /** Lifetime estimate and recommendation; default: src/analysis over the same store. */
  analysis?: AnalysisSource | undefined;
  /** `analysis.turnGapSeconds` for the default analysis (calls closer than this are one turn). */
  turnGapSeconds?: number | undefined;
  /** Starts a probe for the no-JavaScript form; the live form uses POST /api/probes directly. */
  startProbe?: ((input: ProbeFormInput) => Promise<{ id: string }>) | undefined;
  /** Where the pages' data is loaded (the store process, off the forwarding thread); default: here. */
  pages?: DashboardPages | undefined;
  /** One probe run's result, live while it runs; default: the stored row. */
  probeRun?: ((id: string) => Promise<ProbeResult | null>) | undefined;
  now?: () => number;
}

/** The data behind the overview and an upstream's page. */
export interface DashboardPages {
  overview(): Promise<UpstreamSummary[]>;
  upstream(id: string): Promise<UpstreamDetail | null>;
}

/** The lifetime estimate and recommendation that /api/report serves, per upstream. */
export function storeAnalysis(store: ObservationStore, turnGapSeconds = 120, now = Date.now): AnalysisSource {
  return {
    upstream: async (id) => {
      const report = await buildUpstreamReport(store, id, { analysis: { turnGapSeconds } }, { now });
      return (
        report && {
          lifetime: report.lifetime,
          recommendation: report.recommendation,
          eras: report.eras,
          migration: report.migration,
        }
      );
    },
  };
}

/** A page rendered with the mount prefix its links need (see mount.ts). */
function render(c: Context, page: Child, status?: 200 | 401 | 404) {
  return c.html(<MountContext.Provider value={mountOf(c)}>{page}</MountContext.Provider>, status);
}

/** A stored run's result, its row's status being the authority (as the probe API reads it). */
async function storedRun(store: ObservationStore, id: string): Promise<ProbeResult | null> {
  const row = await store.getProbeRun(id);
  const result = row?.result as ProbeResult | null | undefined;
  return row && result ? { ...result, status: row.status } : null;
}

export function dashboard({
  store,
  adminToken,
  analysis,
  turnGapSeconds,
  startProbe,
  pages,
  probeRun = (id) => storedRun(store, id),
  now = Date.now,
}: DashboardOptions): Hono {
  const app = new Hono();
  const load = { store, analysis: analysis ?? storeAnalysis(store, turnGapSeconds, now), now };
  const data: DashboardPages = pages ?? {
    overview: () => loadOverview(load),
    upstream: (id) => loadUpstreamDetail(load, id),
  };

  app.get('/login', (c) =>
    render(c, <LoginPage next={safeNext(c.req.query('next'))} failed={c.req.query('failed') === '1'} />),
  );
  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const next = safeNext(typeof form.next === 'string' ? form.next : undefined);
    const token = typeof form.token === 'string' ? form.token : '';
    if (!adminToken) return c.redirect(underMount(mountOf(c), next), 303);
    if (!safeEqual(token, adminToken)) return render(c, <LoginPage next={next} failed />, 401);
    signIn(c, adminToken);
    return c.redirect(underMount(mountOf(c), next), 303);
  });

  const guard = dashboardAccess(adminToken);
  app.use('/', guard);
  app.use('/upstreams/*', guard);
  app.use('/probes', guard);
  app.use('/probes/*', guard);

  app.get('/', async (c) => render(c, <OverviewPage upstreams={await data.overview()} now={now()} />));

  app.get('/upstreams/:id', async (c) => {
    const id = c.req.param('id');
    const detail = await data.upstream(id);
    if (!detail) return render(c, <NotFoundPage id={id} />, 404);
    return render(
      c,
      <UpstreamPage
        detail={detail}
        startedProbe={c.req.query('probe') ?? null}
        origin={new URL(c.req.url).origin}
      />,
    );
  });

  app.post('/probes', async (c) => {
    const parsed = probeFormSchema.safeParse(await c.req.parseBody());
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      return c.text(`probe form: ${issue?.path.join('.') || 'input'} ${issue?.message ?? 'is invalid'}`, 400);
    }
    if (!startProbe) return c.text('probes cannot be started from this server (no prober configured)', 501);
    let id: string;
    try {
      ({ id } = await startProbe(parsed.data));
    } catch (error) {
      // Unknown upstream, too many runs, shutting down: the prober's message says which.
      return c.text(`probe: ${error instanceof Error ? error.message : String(error)}`, 400);
    }
    return c.redirect(
      `${underMount(mountOf(c), `/upstreams/${encodeURIComponent(parsed.data.upstream)}`)}?probe=${encodeURIComponent(id)}#probes`,
      303,
    );
  });

  // A run as a page: its window, each session's outcome, the search's progress, and the JSON.
  app.get('/probes/:id', async (c) => {
    const id = c.req.param('id');
    const run = await probeRun(id);
    if (!run) return render(c, <UnknownRunPage id={id} />, 404);
    return render(c, <ProbeRunPage run={run} now={now()} />);
  });

  return app;
}
