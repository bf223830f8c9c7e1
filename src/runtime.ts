// Process-wide V8 settings for a `serve` process (src/commands/serve.ts). Not done by
// `startServer`: a library call must not change the V8 flags of the process that embeds it.
import { setFlagsFromString } from 'node:v8';

export interface RuntimeTuning {
  /** True when V8's allocation-site pretenuring was turned off. */
  pretenuringOff: boolean;
}

/**
 * Turns off V8's allocation-site pretenuring, unless `MCP_PROBE_V8_PRETENURING=on` or the
 * process was started with its own `--[no-]allocation-site-pretenuring`.
 *
 * Why: the proxy holds each exchange's record (until the recorder's next batch, every 50 ms)
 * and its span (until the span processor's batch of 512) for a few tens of milliseconds, about
 * one young-generation cycle under load. Whether the sites that allocate them survive often
 * enough for V8 to decide to allocate them straight in the old generation depends on how the
 * batches fall against the collections, and once decided it tends to stay for the life of the
 * process. A process that got it spent about 1.5 µs more a request collecting garbage (minor
 * collections 2.5 against 1.4-1.7 µs, major 0.33 against 0.01-0.05) and 10-15% more CPU a
 * request in all, at raw ping c16 (bench/README.md, eighteenth session); it happened to about
 * half of the benchmark's proxy processes. Without pretenuring these objects die young, which is
 * what they are. Setting the flag at startup, before the server allocates, is what
 * `node --no-allocation-site-pretenuring` does.
 */
export function tuneRuntime(
  env: NodeJS.ProcessEnv = process.env,
  execArgv: readonly string[] = process.execArgv,
): RuntimeTuning {
  const keep =
    env['MCP_PROBE_V8_PRETENURING']?.toLowerCase() === 'on' ||
    execArgv.some((a) => /^--(no-)?allocation[-_]site[-_]pretenuring$/.test(a));
  if (keep) return { pretenuringOff: false };
  setFlagsFromString('--no-allocation-site-pretenuring');
  return { pretenuringOff: true };
}
