export {
  type LegacySseUpstream,
  type LegacySseUpstreamOptions,
  startLegacySseUpstream,
} from './legacySseUpstream.js';
export {
  createDemoMcpServer,
  type DemoUpstream,
  type DemoUpstreamOptions,
  type ExpiryStyle,
  startDemoUpstream,
  type UpstreamStats,
} from './upstream.js';
