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
 * CPU time (µs) of every thread of a process, and of its main thread alone (whose thread id is the
 * pid): the first field of each `/proc/<pid>/task/<tid>/schedstat` (time on a CPU, ns), read in
 * one pass. utime + stime in `/proc/<pid>/stat` count in clock ticks (10 ms), a few percent of a
 * short cell; schedstat counts in ns. Null when the kernel has no schedstat (then the ticks are
 * used). Threads that exit during a cell would be missed; a Node server's threads (main, V8
 * platform, libuv pool) live as long as it does.
 */
function schedstatSample(pid: number): CpuSample | null {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return null;
  }
  let ns = 0;
  let mainNs: number | null = null;
  for (const tid of tids) {
    try {
      const threadNs = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      ns += threadNs;
      if (tid === String(pid)) mainNs = threadNs;
    } catch (err) {
      // A thread that ended between the listing and the read has nothing more to add.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ESRCH')
        continue;
      return null;
    }
  }
  if (!Number.isFinite(ns)) return null;
  return { total: ns / 1000, mainThread: mainNs !== null && Number.isFinite(mainNs) ? mainNs / 1000 : null };
}

/** A CPU reading (µs): all threads, and the main thread alone when it could be told apart. */
export interface CpuSample {
  total: number;
  mainThread: number | null;
}

function cpuSampleOfOne(pid: number): CpuSample {
  return schedstatSample(pid) ?? { total: readStat(pid)?.cpuMicros ?? 0, mainThread: null };
}

/**
 * CPU time (µs, all threads) of a process, with its main thread's part; with `withChildren`, of the
 * process and its direct children (nginx workers), which have no one main thread (null).
 */
export function cpuSampleOf(pid: number, withChildren = false): CpuSample {
  const own = cpuSampleOfOne(pid);
  if (!withChildren) return own;
  let total = own.total;
  for (const entry of readdirSync('/proc')) {
    const child = Number(entry);
    if (!Number.isInteger(child) || child === pid) continue;
    const s = readStat(child);
    if (s && s.ppid === pid) total += cpuSampleOfOne(child).total;
  }
  return { total, mainThread: null };
}

export function rssBytesOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}
