import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildReport, buildUpstreamReport, type Report, type UpstreamReport } from '../analysis/index.js';
import { applyCliOverrides, ConfigError, defaultConfig, loadConfig } from '../config/load.js';
import { parseStorageUrl } from '../config/schema.js';
import { openStore } from '../store/index.js';

export const REPORT_USAGE = `Usage: mcp-session-probe report [--config FILE] [--db PATH] [--upstream ID] [--json]

Lifetime estimate and strategy recommendation per upstream, from the store that
serve and probe write to. --json prints the GET /api/report JSON.`;

const num = (v: number | null, digits = 3) => (v === null ? '-' : v.toFixed(digits));

function windowText(lower: number | null, upper: number | null): string {
  if (lower === null && upper === null) return '-';
  // No expiry seen: the window is open above.
  return upper === null ? `(${num(lower)}, ∞)` : `(${num(lower)}, ${num(upper)}]`;
}

/** Rows of cells → lines with columns padded to the widest cell. */
function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** The readable form of a report: one table row per upstream, then each recommendation's reason. */
export function formatReport(report: Report): string {
  if (report.upstreams.length === 0)
    return 'No upstreams in the store yet: run `mcp-session-probe serve` or `probe` first.';
  const per100 = (r: UpstreamReport['recommendation']['expectedInitSecondsPer100Calls']) =>
    ['per-call', 'per-turn', 'pool'].map((k) => num(r[k as keyof typeof r] ?? null, 1)).join('/');
  const rows = [
    [
      'upstream',
      'basis',
      'window s',
      'surv/exp',
      'with stream s',
      'init p50/p90 s',
      'strategy',
      'pool ttl s',
      'keepalive s',
      'init s per 100 (call/turn/pool)',
    ],
    ...report.upstreams.map((u) => {
      const l = u.lifetime;
      const r = u.recommendation;
      return [
        u.id,
        l.stateless ? 'stateless' : l.basis,
        windowText(l.lowerBoundSeconds, l.upperBoundSeconds),
        `${l.survivals}/${l.expirations}`,
        windowText(l.withStream.lowerBoundSeconds, l.withStream.upperBoundSeconds),
        `${num(l.initLatencySeconds.p50)}/${num(l.initLatencySeconds.p90)}`,
        r.strategy,
        num(r.poolIdleTtlSeconds),
        num(r.keepaliveIntervalSeconds),
        per100(r.expectedInitSecondsPer100Calls),
      ];
    }),
  ];
  const reasons = report.upstreams.map((u) => {
    const o = u.lifetime.observations;
    const c = u.lifetime.credential;
    const credential =
      c && (c.observations > 0 || c.announcedSeconds !== null)
        ? `; credential lifetime: (${c.lowerBoundSeconds ?? '-'}, ${c.upperBoundSeconds ?? '-'}] s from ${c.observations} credential${c.observations === 1 ? '' : 's'}${c.announcedSeconds !== null ? `, tokens announced for ${c.announcedSeconds} s` : ''}`
        : '';
    const line = `${u.id}: ${u.recommendation.strategy}: ${u.recommendation.reason} [observations: ${o.proxy} passive, ${o.probe} probe; validates session ids: ${u.lifetime.validatesSessionIds ?? 'not probed'}${credential}; sessions: ${u.sessionModel}]`;
    // An upstream serving both eras: the line above is the 2025 era's answer (docs/eras.md).
    const sessionless = u.eras?.['2026'].recommendation;
    return sessionless
      ? `${line}\n${u.id} (2026 callers): ${sessionless.strategy}: ${sessionless.reason}`
      : line;
  });
  return `${table(rows)}\n\n${reasons.join('\n')}`;
}

export async function reportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      db: { type: 'string' },
      upstream: { type: 'string', short: 'u' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(REPORT_USAGE + '\n');
    return 0;
  }
  const fileConfig = await loadConfig({ path: values.config });
  const config = applyCliOverrides(fileConfig ?? defaultConfig(), { db: values.db });
  const location = parseStorageUrl(config.storage.url);
  if (location?.kind === 'sqlite' && location.path !== ':memory:' && !existsSync(location.path)) {
    // Reading must not create an empty database where the user expected their data.
    throw new ConfigError(
      `report: no store at "${location.path}"; run serve or probe first, or point --db at their database`,
    );
  }
  const store = await openStore(config.storage.url);
  try {
    await store.migrate();
    let report: Report;
    if (values.upstream) {
      const one = await buildUpstreamReport(store, values.upstream, config);
      if (!one) {
        const known = (await store.listUpstreams()).map((u) => u.id);
        process.stderr.write(
          `mcp-session-probe report: --upstream "${values.upstream}" is not in the store; known: ${known.join(', ') || 'none'}\n`,
        );
        return 2;
      }
      report = { generatedAt: new Date().toISOString(), upstreams: [one] };
    } else {
      report = await buildReport(store, config);
    }
    process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
    return 0;
  } finally {
    await store.close();
  }
}
