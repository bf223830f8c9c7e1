// The admin reads that read many rows and analyse them (/api/report, an upstream's lifetime,
// the dashboard's pages), run where the rows are: in the store process, so that neither the
// query nor the analysis holds the forwarding thread, and only the small answer crosses over.
import { type AnalysisConfig, buildReport, buildUpstreamReport } from '../../analysis/index.js';
import { type AnalysisSource, loadOverview, loadUpstreamDetail } from '../../api/dashboard/model.js';
import type { ObservationStore } from '../types.js';

/** The analysis the dashboard shows beside the raw observations (as `storeAnalysis` does in process). */
function analysisOf(store: ObservationStore, turnGapSeconds: number, now: () => number): AnalysisSource {
  return {
    upstream: async (id) => {
      const report = await buildUpstreamReport(store, id, { analysis: { turnGapSeconds } }, { now });
      return report && { lifetime: report.lifetime, recommendation: report.recommendation };
    },
  };
}

const views = {
  report: (store: ObservationStore, config: AnalysisConfig, nowMs: number) =>
    buildReport(store, config, { now: () => nowMs }),
  upstreamReport: (store: ObservationStore, id: string, config: AnalysisConfig, nowMs: number) =>
    buildUpstreamReport(store, id, config, { now: () => nowMs }),
  overview: (store: ObservationStore, turnGapSeconds: number, nowMs: number) => {
    const now = () => nowMs;
    return loadOverview({ store, analysis: analysisOf(store, turnGapSeconds, now), now });
  },
  upstreamDetail: (store: ObservationStore, id: string, turnGapSeconds: number, nowMs: number) => {
    const now = () => nowMs;
    return loadUpstreamDetail({ store, analysis: analysisOf(store, turnGapSeconds, now), now }, id);
  },
};

export type Views = typeof views;
export type ViewName = keyof Views;
/** A view's arguments after the store. */
export type ViewArgs<V extends ViewName> = Views[V] extends (
  store: ObservationStore,
  ...args: infer A
) => unknown
  ? A
  : never;
export type ViewResult<V extends ViewName> = Awaited<ReturnType<Views[V]>>;

export function runView(store: ObservationStore, name: ViewName, args: unknown[]): Promise<unknown> {
  const view = views[name] as ((store: ObservationStore, ...args: unknown[]) => Promise<unknown>) | undefined;
  if (!view) return Promise.reject(new Error(`storage: no view "${String(name)}"`));
  return view(store, ...args);
}
