// The command line as a newcomer meets it: run from any folder (built or not), a taken
// port, a stray argument, top-level help, a probe where every upstream failed.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { REFUSED_PORT, sleep } from './helpers/proxy.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin', 'mcp-session-probe.js');
const TSX = import.meta.resolve('tsx');
/** The current sources, whatever dist/ holds. */
const CLI = ['--import', TSX, join(ROOT, 'src', 'cli.ts')];

const cleanups: Array<() => void | Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-newcomer-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Runs `node ARGS` in `cwd`; resolves with the exit code and everything it wrote. */
function run(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd,
    env: { ...process.env, NO_COLOR: '1', MCP_PROBE_CONFIG: '', MCP_PROBE_ADMIN_TOKEN: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(() => void child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (d) => {
    out += d;
  });
  child.stderr!.on('data', (d) => {
    out += d;
  });
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  return { child, output: () => out, exited };
}

async function listeningUrl(p: ReturnType<typeof run>, timeoutMs = 30_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const m = /listening on (http:\/\/\S+)/.exec(p.output());
    if (m) return m[1]!;
    if (Date.now() > until) throw new Error(`serve did not start:\n${p.output()}`);
    await sleep(50);
  }
}

async function expectDashboardServed(args: string[]) {
  const dir = tempDir();
  const serve = run([...args, 'serve', '--port', '0', '--db', join(dir, 'demo.db')], dir);
  const url = await listeningUrl(serve);
  for (const page of ['/', '/upstreams/demo']) {
    const res = await fetch(`${url}${page}`);
    expect(res.status, `${page}: ${serve.output()}`).toBe(200);
    expect(await res.text()).toContain('</html>');
  }
  serve.child.kill('SIGTERM');
  expect(await serve.exited).toBe(0);
}

describe('the CLI from another folder', () => {
  it('the TypeScript sources through tsx, with no tsconfig in the current folder, serve the dashboard', async () => {
    await expectDashboardServed(CLI);
  }, 30_000);

  it('the bin (dist when built, the sources otherwise) serves the dashboard', async () => {
    await expectDashboardServed([BIN]);
  }, 30_000);
});

describe('serve without a config file', () => {
  it('takes the admin token from MCP_PROBE_ADMIN_TOKEN (a container has no other way to set it)', async () => {
    const dir = tempDir();
    const token = 'env-admin-token-5d1c';
    const serve = run([...CLI, 'serve', '--port', '0', '--db', join(dir, 'demo.db')], dir, {
      MCP_PROBE_ADMIN_TOKEN: token,
    });
    const url = await listeningUrl(serve);
    expect((await fetch(`${url}/api/upstreams`)).status).toBe(401);
    const ok = await fetch(`${url}/api/upstreams`, { headers: { authorization: `Bearer ${token}` } });
    expect(ok.status).toBe(200);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(serve.output()).not.toContain(token);
  }, 30_000);
});

describe('the CLI: mistakes get one line and exit 2', () => {
  it('a taken port: exits 2 at once, naming the port and the way out', async () => {
    const holder: Server = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => holder.close(() => r())));
    const { port } = holder.address() as { port: number };
    const dir = tempDir();
    const serve = run([...CLI, 'serve', '--port', String(port), '--db', join(dir, 'demo.db')], dir);
    expect(await serve.exited).toBe(2);
    expect(serve.output()).toContain(`127.0.0.1:${port} is already in use`);
    expect(serve.output()).toContain('--port');
    expect(serve.output()).not.toMatch(/\n\s+at /);
  }, 30_000);

  it('a stray positional argument: one line naming it', async () => {
    const p = run([...CLI, 'probe', 'extra'], tempDir());
    expect(await p.exited).toBe(2);
    expect(p.output().trim().split('\n')).toHaveLength(1);
    expect(p.output()).toContain("'extra'");
  }, 30_000);

  it('top-level --help lists the commands, not one command’s options', async () => {
    const p = run([...CLI, '--help'], tempDir());
    expect(await p.exited).toBe(0);
    for (const command of ['serve', 'probe', 'report'])
      expect(p.output()).toMatch(new RegExp(`\\n  ${command} `));
    expect(p.output()).not.toContain('--db PATH');
  }, 30_000);

  it('a probe where every upstream failed exits 2 and shows no init time', async () => {
    const dir = tempDir();
    const config = join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        upstreams: [{ id: 'gone', url: `http://127.0.0.1:${REFUSED_PORT}/mcp`, timeoutSeconds: 2 }],
        storage: { url: `sqlite:${join(dir, 'probe.db')}` },
      }),
    );
    const p = run(
      [...CLI, 'probe', '--config', config, '--intervals', '1', '--output', join(dir, 'r.json')],
      dir,
    );
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain('every upstream failed');
    const row = p
      .output()
      .split('\n')
      .find((l) => l.startsWith('gone '));
    expect(row).toMatch(/^gone\s+-\s/);
  }, 30_000);
});
