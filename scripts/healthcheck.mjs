#!/usr/bin/env node
// The container's health check: GET /healthz on the port `serve` actually listens on. The
// port is worked out as `serve` works it out (its own --port/--config flags, read from PID 1's
// command line, then MCP_PROBE_CONFIG, then 8787), with the built CLI's own config loader.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { applyCliOverrides, defaultConfig, loadConfig } from '../dist/config/load.js';

function serveArgs() {
  try {
    const argv = readFileSync('/proc/1/cmdline', 'utf8').split('\0').filter(Boolean);
    const at = argv.indexOf('serve');
    return at === -1 ? [] : argv.slice(at + 1);
  } catch {
    return [];
  }
}

try {
  const { values } = parseArgs({
    args: serveArgs(),
    options: { config: { type: 'string', short: 'c' }, port: { type: 'string', short: 'p' } },
    strict: false,
  });
  const file = await loadConfig({ path: typeof values.config === 'string' ? values.config : undefined });
  const config = applyCliOverrides(file ?? defaultConfig(), {
    port: typeof values.port === 'string' ? values.port : undefined,
  });
  const res = await fetch(`http://127.0.0.1:${config.server.port}/healthz`, {
    signal: AbortSignal.timeout(2500),
  });
  process.exitCode = res.ok ? 0 : 1;
} catch (err) {
  process.stderr.write(`healthcheck: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
