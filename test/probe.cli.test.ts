// `mcp-session-probe probe`: in-process against fixture upstreams, and once as a real process.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { probeCommand } from '../src/commands/probe.js';
import type { ProbeResult } from '../src/probe/result.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { upstreamPool } from './fixtures/upstreams.js';

const upstreams = upstreamPool();
const dirs: string[] = [];
afterEach(async () => {
  await upstreams.closeAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'mcp-probe-cli-'));
  dirs.push(d);
  return d;
}

async function run(argv: string[], interrupt?: AbortSignal, onStderr?: (soFar: string) => void) {
  let stdout = '';
  let stderr = '';
  const code = await probeCommand(argv, {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
      onStderr?.(stderr);
    },
    interrupt,
  });
  return { code, stdout, stderr };
}

async function configWith(dir: string, entries: Record<string, object>): Promise<string> {
  const file = join(dir, 'config.json');
  writeFileSync(
    file,
    JSON.stringify({
      upstreams: Object.entries(entries).map(([id, extra]) => ({ id, ...extra })),
      storage: { url: `sqlite:${join(dir, 'probe.db')}` },
    }),
  );
  return file;
}

describe('mcp-session-probe probe', () => {
  it('probes every configured upstream concurrently: progress on stderr, table and summary on stdout, JSON file, store rows', async () => {
    const dir = tempDir();
    const a = await upstreams.start({ idleTimeoutMs: 1000 });
    const b = await upstreams.start({ idleTimeoutMs: 1000, requireAuth: 'tok-123' });
    process.env['PROBE_TEST_TOKEN'] = 'tok-123';
    const config = await configWith(dir, {
      alpha: { url: a.url },
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the config's own ${ENV} syntax, interpolated by the loader
      beta: { url: b.url, headers: { Authorization: 'Bearer ${PROBE_TEST_TOKEN}' } },
    });
    const output = join(dir, 'out.json');
    const { code, stdout, stderr } = await run([
      '--config',
      config,
      '--intervals',
      '0.2,1.5',
      '--output',
      output,
    ]);
    expect(code).toBe(0);
    expect(stderr).toMatch(/\[upstream=alpha t=\+\d+s\] OK \d+\.\d{3}s \(tools=3\) after idle 0\.2s/);
    expect(stderr).toMatch(/\[upstream=beta t=\+\d+s\] SESSION_EXPIRED HTTP 404 after idle 1\.5s/);
    expect(stdout).toMatch(/^upstream\s+init s\s+first call s/);
    expect(stdout).toContain('Idle 0.2s: 2/2 upstreams survived');
    expect(stdout).toContain('Idle 1.5s: 0/2 upstreams survived');
    expect(`${stdout}${stderr}`).not.toContain('tok-123');
    const result = JSON.parse(readFileSync(output, 'utf8')) as ProbeResult;
    expect(result.status).toBe('done');
    expect(result.results.map((r) => r.upstream)).toEqual(['alpha', 'beta']);
    const store = await openSqliteStore({ path: join(dir, 'probe.db') });
    try {
      expect(await store.getProbeRun(result.id)).toMatchObject({ status: 'done' });
      const rows = await store.listExchanges({ source: 'probe', limit: 1000 });
      expect(new Set(rows.map((r) => r.upstream))).toEqual(new Set(['alpha', 'beta']));
    } finally {
      await store.close();
    }
  });

  it('--upstreams (alias --connectors) selects; --json prints the result; --mode ladder', async () => {
    const dir = tempDir();
    const a = await upstreams.start({ idleTimeoutMs: 1000 });
    const config = await configWith(dir, { alpha: { url: a.url }, other: { url: 'http://127.0.0.1:9/mcp' } });
    const { code, stdout } = await run([
      '--config',
      config,
      '--connectors',
      'alpha',
      '--mode',
      'ladder',
      '--intervals',
      '0.1,0.3',
      '--json',
      '--output',
      join(dir, 'o.json'),
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as ProbeResult;
    expect(result.mode).toBe('ladder');
    expect(result.results.map((r) => r.upstream)).toEqual(['alpha']);
    expect(result.results[0]!.checkpoints.map((c) => c.success)).toEqual([true, true]);
  });

  it('--demo records under its own id, not serve’s "demo", in the database both use by default', async () => {
    const dir = tempDir();
    const db = join(dir, 'shared.db');
    const { code, stdout } = await run([
      '--demo',
      '--mode',
      'fanout',
      '--intervals',
      '0.2',
      '--db',
      db,
      '--json',
      '--output',
      join(dir, 'd.json'),
    ]);
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as ProbeResult).results.map((r) => r.upstream)).toEqual(['probe-demo']);
    const store = await openSqliteStore({ path: db });
    try {
      expect((await store.listUpstreams()).map((u) => u.id)).toEqual(['probe-demo']);
    } finally {
      await store.close();
    }
  });

  it('usage and config errors exit 2 with a message naming the value and the way out', async () => {
    const dir = tempDir();
    const config = await configWith(dir, { alpha: { url: 'http://127.0.0.1:9/mcp' } });
    expect(await run(['--config', config, '--intervals', '5,x'])).toMatchObject({
      code: 2,
      stderr:
        'mcp-session-probe probe: --intervals "5,x": "x" is not a positive number of seconds; use e.g. --intervals 5,30,60\n',
    });
    expect(await run(['--config', config, '--upstreams', 'nope'])).toMatchObject({
      code: 2,
      stderr: 'mcp-session-probe probe: unknown upstream "nope"; configured: alpha\n',
    });
    expect((await run(['--config', config, '--mode', 'zigzag'])).stderr).toMatch(
      /--mode "zigzag" is not a mode/,
    );
    expect((await run(['--config', join(dir, 'missing.yaml')])).code).toBe(2);
  });

  it('an interrupt writes what was measured and exits 130', async () => {
    const dir = tempDir();
    const a = await upstreams.start({ idleTimeoutMs: 5000 });
    const config = await configWith(dir, { alpha: { url: a.url } });
    const output = join(dir, 'partial.json');
    const interrupt = new AbortController();
    // Interrupted once the 0.1 s checkpoint is reported, during the 20 s idle.
    const { code, stderr } = await run(
      ['--config', config, '--intervals', '0.1,20', '--output', output],
      interrupt.signal,
      (soFar) => {
        if (/OK .* after idle 0\.1\s?s/.test(soFar)) setTimeout(() => interrupt.abort(), 50);
      },
    );
    expect(code).toBe(130);
    expect(stderr).toMatch(/interrupted: writing what was measured/);
    const result = JSON.parse(readFileSync(output, 'utf8')) as ProbeResult;
    expect(result.status).toBe('cancelled');
    expect(result.results[0]!.checkpoints.map((c) => [c.idleSecondsTarget, c.success])).toEqual([
      [0.1, true],
    ]);
  });

  it('as a real process: no config exits 2 and says how to give one', () => {
    const bin = fileURLToPath(new URL('../bin/mcp-session-probe.js', import.meta.url));
    const env = { ...process.env };
    delete env['MCP_PROBE_CONFIG'];
    const r = spawnSync(process.execPath, [bin, 'probe'], {
      encoding: 'utf8',
      env,
      cwd: tempDir(),
      timeout: 15_000,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nothing to probe: no config\. Pass --config FILE .* or try --demo/);
  });
});
