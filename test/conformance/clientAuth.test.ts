// The official MCP conformance suite's client `auth` scenarios against this project's client
// (test/conformance/adapter.ts: `login --url`, then `probe --url`; config files for pre-registered
// and client-credentials clients). Each scenario starts the suite's own authorization server and
// MCP server on free ports; the suite judges the client by what it sent them.
//
// A scenario costs a few seconds (two processes start), so `npm test` runs one scenario per
// distinct path through the client; MCP_PROBE_CONFORMANCE=all runs every auth scenario.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = fileURLToPath(
  new URL('../../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url),
);
const adapter = fileURLToPath(new URL('./adapter.ts', import.meta.url));
const baseline = fileURLToPath(new URL('./expected-failures.yml', import.meta.url));

const EVERY = [
  'auth/metadata-default',
  'auth/metadata-var1',
  'auth/metadata-var2',
  'auth/metadata-var3',
  'auth/basic-cimd',
  'auth/scope-from-www-authenticate',
  'auth/scope-from-scopes-supported',
  'auth/scope-omitted-when-undefined',
  'auth/scope-step-up',
  'auth/scope-retry-limit',
  'auth/token-endpoint-auth-basic',
  'auth/token-endpoint-auth-post',
  'auth/token-endpoint-auth-none',
  'auth/resource-mismatch',
  'auth/pre-registration',
  'auth/2025-03-26-oauth-metadata-backcompat',
  'auth/2025-03-26-oauth-endpoint-fallback',
  'auth/client-credentials-jwt',
  'auth/client-credentials-basic',
];
/** One per path through the client: PRM + dynamic registration, CIMD, scope from the challenge,
 * step-up on 403 insufficient_scope, pre-registration from the config, the 2025-03-26 fallback
 * without metadata, private_key_jwt client credentials from the config. */
const PATHS = [
  'auth/metadata-default',
  'auth/basic-cimd',
  'auth/scope-from-www-authenticate',
  'auth/scope-step-up',
  'auth/pre-registration',
  'auth/2025-03-26-oauth-endpoint-fallback',
  'auth/client-credentials-jwt',
];
const scenarios = process.env.MCP_PROBE_CONFORMANCE === 'all' ? EVERY : PATHS;

/** Two scenarios at a time: each runs two servers and a client on a shared machine. */
let running = 0;
const waiting: Array<() => void> = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function runScenario(scenario: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        cli,
        'client',
        '--command',
        `${process.execPath} --import tsx ${adapter}`,
        '--scenario',
        scenario,
        '--expected-failures',
        baseline,
        '--timeout',
        '60000',
      ],
      { cwd: root, env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d) => {
      output += d;
    });
    child.stderr.on('data', (d) => {
      output += d;
    });
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('conformance: client auth scenarios', () => {
  it.concurrent.each(scenarios)('%s', async (scenario) => {
    const { code, output } = await slot(() => runScenario(scenario));
    // The suite exits 0 when every check passed, or when the only failures are the baseline's.
    if (code !== 0) expect.fail(`${scenario} exited ${code}:\n${output.slice(-4000)}`);
    expect(output).toMatch(/OVERALL: PASSED|Baseline check passed/);
  }, 120_000);
});
