// Child processes of the benchmark: every server under test runs in its own
// process so that its CPU time can be read from /proc and the load generator's
// event loop is not shared with it.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Clock ticks per second for /proc/<pid>/stat utime/stime (USER_HZ; 100 on Linux). */
const CLOCK_TICKS = 100;

export interface BenchChild {
  name: string;
  pid: number;
  /** What the child reported once listening (at least `port`). */
  ready: { port: number; [k: string]: unknown };
  /** Sends a request over IPC and resolves with the child's answer. */
  ask<T>(message: { type: string }): Promise<T>;
  close(): Promise<void>;
}

/**
 * Where `tsc -p tsconfig.bench.json` put the compiled sources, or null to run the
 * TypeScript through tsx. Compiled is the default (`bench/run.ts`): that is how the
 * proxy ships (dist/ in the Docker image), and tsx's loader adds a `__name` call to
 * every closure the proxy creates per request, which would be charged to the proxy.
 */
let compiledRoot: string | null = null;

export function useCompiledChildren(root: string | null): void {
  compiledRoot = root;
}

/** The node arguments that run `bench/<file>`: compiled JS, or the TypeScript through tsx. */
export function childEntry(file: string): string[] {
  if (compiledRoot === null) return ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url))];
  return [join(compiledRoot, 'bench', file.replace(/\.ts$/, '.js'))];
}

/**
 * Starts `bench/<file>` in a node child with an IPC channel; the child must
 * `process.send({ type: 'ready', port })` once listening.
 */
export async function startChild(
  name: string,
  file: string,
  args: string[] = [],
  nodeFlags: string[] = [],
): Promise<BenchChild> {
  const child = spawn(process.execPath, [...nodeFlags, ...childEntry(file), ...args], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<BenchChild['ready']>((resolve, reject) => {
    const onExit = (code: number | null) =>
      reject(new Error(`bench: ${name} exited (code ${code}) before listening`));
    child.once('exit', onExit);
    child.on('message', function onReady(m: { type?: string; port?: number }) {
      if (m?.type !== 'ready') return;
      child.off('message', onReady);
      child.off('exit', onExit);
      resolve(m as BenchChild['ready']);
    });
  });
  let seq = 0;
  return {
    name,
    pid: child.pid!,
    ready,
    ask<T>(message: { type: string }) {
      const id = ++seq;
      return new Promise<T>((resolve) => {
        child.on('message', function onAnswer(m: { id?: number; answer?: T }) {
          if (m?.id !== id) return;
          child.off('message', onAnswer);
          resolve(m.answer as T);
        });
        child.send({ ...message, id });
      });
    },
    close: () => stopChild(child),
  };
}

/** Child side: answer `ask` requests. */
export function answerParent(handlers: Record<string, () => unknown | Promise<unknown>>): void {
  process.on('message', async (m: { type: string; id: number }) => {
    const h = handlers[m.type];
    const answer = h ? await h() : null;
    process.send?.({ id: m.id, answer });
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

function readStat(pid: number): { ppid: number; cpuMicros: number } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return { ppid: Number(fields[1]), cpuMicros: ((utime + stime) * 1e6) / CLOCK_TICKS };
  } catch {
    return null;
  }
}

/**
 * CPU time (µs) of every thread of a process: the first field of each
 * `/proc/<pid>/task/<tid>/schedstat` (time on a CPU, ns). utime + stime in `/proc/<pid>/stat`
 * count in clock ticks (10 ms), a few percent of a short cell; schedstat counts in ns. Null when
 * the kernel has no schedstat (then the ticks are used). Threads that exit during a cell would be
 * missed; a Node server's threads (main, V8 platform, libuv pool) live as long as it does.
 */
function schedstatMicros(pid: number): number | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let ns = 0;
  for (const tid of tids) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch (err) {
      // A thread that ended between the listing and the read has nothing more to add.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH')
        continue;
      return null;
    }
  }
  return Number.isFinite(ns) ? ns / 1000 : null;
}

/** CPU time (µs) of a process's main thread alone (its thread id is the pid), or null without schedstat. */
export function mainThreadCpuMicrosOf(pid: number): number | null {
  try {
    const ns = Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1000 : null;
  } catch {
    return null;
  }
}

function cpuMicrosOfOne(pid: number): number {
  return schedstatMicros(pid) ?? readStat(pid)?.cpuMicros ?? 0;
}

/** CPU time (µs, all threads) of a process and its direct children (nginx workers). */
export function cpuMicrosOf(pid: number, withChildren = false): number {
  let total = cpuMicrosOfOne(pid);
  if (!withChildren) return total;
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child) || child === pid) continue;
    const s = readStat(child);
    if (s && s.ppid === pid) total += cpuMicrosOfOne(child);
  }
  return total;
}

export function rssBytesOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}
