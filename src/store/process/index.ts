// The store in its own process (docs/decisions/0020-store-fault-isolation.md).
import type { AnalysisConfig } from '../../analysis/index.js';
import type { DashboardPages } from '../../api/dashboard/index.js';
import type { ReportSource } from '../../api/report.js';
import type { StoreProcess } from './client.js';

export {
  openStoreProcess,
  type StoreProcess,
  StoreProcessError,
  type StoreProcessOptions,
} from './client.js';

/** The report and the dashboard's pages, built in the store process where the rows are. */
export function storeProcessViews(
  store: StoreProcess,
  config: AnalysisConfig,
  now: () => number = Date.now,
): { reports: ReportSource; pages: DashboardPages } {
  // Only what the analysis reads crosses over: never the upstreams' headers.
  const analysis: AnalysisConfig = { analysis: { turnGapSeconds: config.analysis.turnGapSeconds } };
  const turnGap = config.analysis.turnGapSeconds;
  return {
    reports: {
      report: () => store.view('report', analysis, now()),
      upstream: (id) => store.view('upstreamReport', id, analysis, now()),
    },
    pages: {
      overview: () => store.view('overview', turnGap, now()),
      upstream: (id) => store.view('upstreamDetail', id, turnGap, now()),
    },
  };
}
