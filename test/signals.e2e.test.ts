// The ways docs/operations.md tells users to run `serve` so that SIGTERM reaches it: the bin run
// directly, and a shell wrapper that `exec`s it. And the pitfall they avoid: a wrapper without
// `exec` dies of the signal and leaves the proxy running.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep } from './helpers/proxy.js';

const BIN = join(import.meta.dirname, '..', 'bin', 'mcp-session-probe.js');
const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

/** `serve` with the built-in demo upstream (no config), on a free port and a fresh database. */
function serveArgs(): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-signals-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return ['serve', '--port', '0', '--db', join(dir, 'probe.db')];
}

/** The same as one shell command line. */
const shellLine = (args: string[]) => args.map((a) => `"${a}"`).join(' ');

/** Starts `command` and waits for the banner; returns the process, its URL and its output. */
async function start(command: string, args: string[]) {
  const child = spawn(command, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1' },
  });
  cleanups.push(() => void child.kill('SIGKILL'));
  let out = '';
  const collect = (d: Buffer) => {
    out += d;
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no banner within 30 s:\n${out}`)), 30_000);
    void exited.then((code) => reject(new Error(`exited (${code}) before its banner:\n${out}`)));
    child.stderr!.on('data', () => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  return { child, url, exited, output: () => out };
}

function childrenOf(child: ChildProcess): number[] {
  const pid = child.pid!;
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .trim()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
}

describe('SIGTERM reaches serve the documented ways', () => {
  it('the bin run directly: drains, flushes, exits 0', async () => {
    const serve = await start(BIN, serveArgs());
    expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(serve.output()).toContain('SIGTERM received');
  }, 60_000);

  it('a shell wrapper that execs the bin: the signal reaches the proxy, exit 0', async () => {
    const serve = await start('sh', ['-c', `exec ${shellLine([BIN, ...serveArgs()])}`]);
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe(0);
    expect(serve.output()).toContain('SIGTERM received');
  }, 60_000);

  it('a shell wrapper without exec dies of the signal and leaves the proxy running (the pitfall)', async () => {
    const serve = await start('sh', ['-c', `${shellLine([BIN, ...serveArgs()])}; echo wrapper done`]);
    const [proxyPid] = childrenOf(serve.child);
    expect(proxyPid).toBeGreaterThan(0);
    cleanups.push(() => {
      try {
        process.kill(proxyPid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    });
    serve.child.kill('SIGTERM');
    expect(await serve.exited).toBe('SIGTERM');
    await sleep(300);
    // The proxy never heard of it: still answering, nothing drained or flushed.
    expect((await fetch(`${serve.url}/healthz`)).status).toBe(200);
    expect(serve.output()).not.toContain('SIGTERM received');
  }, 60_000);
});
