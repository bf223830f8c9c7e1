// The forwarding process's side of the store process (./host.ts): an `ObservationStore` whose
// every call runs in a child process that owns the database connection. Nothing here touches
// the database file, so no store fault can reach the forwarding process: the store process may
// die of one (SIGBUS from a memory-mapped file), and then its calls fail like any store error
// (the recorder keeps its queue and retries) and the next call starts a new store process.
// Why a process and not a worker thread: a signal such as SIGBUS ends the whole process.
import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { UpstreamConfig } from '../../config/schema.js';
import { redactUrl } from '../../security/redact.js';
import { type ExchangeIdBlock, ExchangeIds } from '../exchangeIds.js';
import type { Logger } from '../recorder.js';
import type { ObservationStore } from '../types.js';
import type { StoreMethod, StoreReply, StoreRequest, StoreRequestBody, UpstreamRow } from './protocol.js';
import type { ViewArgs, ViewName, ViewResult } from './views.js';

export interface StoreProcessOptions {
  /** `storage.url`. */
  url: string;
  upstreams: readonly Pick<UpstreamConfig, 'id' | 'name' | 'url' | 'transport'>[];
  logger?: Logger;
  /** A call unanswered for this long ends the store process (it is stuck) and fails. */
  callTimeoutMs?: number;
  /** The least time between two starts of the store process after it died. */
  restartDelayMs?: number;
}

/** A store whose calls run in a child process, plus the heavy admin reads (`view`). */
export interface StoreProcess extends ObservationStore {
  /** Runs one of ./views.ts in the store process and returns its answer. */
  view<V extends ViewName>(name: V, ...args: ViewArgs<V>): Promise<ViewResult<V>>;
  /** The store process's pid, or null while none runs. */
  readonly pid: number | null;
  /** Times the store process died and was started again. */
  readonly restarts: number;
  /** Ends the store process at once (SIGKILL): the last step of a shutdown out of time. */
  kill(): void;
}

/** An error from the store process, or its absence; `code` as the store gave it (SQLITE_BUSY...). */
export class StoreProcessError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'StoreProcessError';
  }
}

interface Pending {
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const silentLogger: Logger = { warn() {}, info() {} };

/** Starts the store process, opens and migrates the store there, and resolves once it is ready. */
export async function openStoreProcess({
  url,
  upstreams,
  logger = silentLogger,
  callTimeoutMs = 30_000,
  restartDelayMs = 500,
}: StoreProcessOptions): Promise<StoreProcess> {
  const rows: UpstreamRow[] = upstreams.map((u) => ({
    id: u.id,
    name: u.name,
    url: redactUrl(u.url),
    transport: u.transport,
  }));
  let child: ChildProcess | null = null;
  let ready: Promise<void> | null = null;
  let lastStart = 0;
  let restarts = 0;
  let closed = false;
  let nextId = 1;
  const pending = new Map<number, Pending>();
  let kind: 'sqlite' | 'postgres' = 'sqlite';

  function failAll(err: Error): void {
    for (const [id, p] of pending) {
      clearTimeout(p.timer);
      pending.delete(id);
      p.reject(err);
    }
  }

  function send(target: ChildProcess, req: StoreRequestBody): Promise<unknown> {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new StoreProcessError(`storage: the store process did not answer within ${callTimeoutMs} ms`));
        // A store process that does not answer is stuck: end it; the next call starts another.
        target.kill('SIGKILL');
      }, callTimeoutMs);
      timer.unref();
      pending.set(id, { resolve, reject, timer });
      try {
        target.send({ ...req, id } as StoreRequest);
      } catch (err) {
        clearTimeout(timer);
        pending.delete(id);
        reject(new StoreProcessError(`storage: cannot reach the store process: ${(err as Error).message}`));
      }
    });
  }

  function start(): Promise<void> {
    lastStart = Date.now();
    const proc = spawnHost();
    child = proc;
    proc.on('message', (msg: StoreReply) => {
      const p = pending.get(msg.id);
      if (!p) return;
      pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.ok) p.resolve(msg.value);
      else p.reject(new StoreProcessError(msg.error.message, msg.error.code));
    });
    proc.on('error', () => {
      // 'exit' follows (or the send fails): handled there.
    });
    proc.once('exit', (code, signal) => {
      if (child === proc) {
        child = null;
        ready = null;
      }
      const how = signal ? `signal ${signal}` : `exit code ${code}`;
      failAll(new StoreProcessError(`storage: the store process ended (${how})`, 'STORE_PROCESS_EXITED'));
      if (!closed) {
        logger.warn(
          'store process ended; forwarding goes on, observations wait in memory, and a new one starts',
          {
            how,
          },
        );
      }
    });
    return send(proc, { op: 'open', url, upstreams: rows }).then((value) => {
      if (value === 'sqlite' || value === 'postgres') kind = value;
    });
  }

  /** The running store process, started again (not more often than `restartDelayMs`) after it died. */
  async function ready_(): Promise<ChildProcess> {
    if (closed) throw new StoreProcessError('storage: the store is closed');
    if (child === null) {
      const wait = lastStart + restartDelayMs - Date.now();
      if (wait > 0)
        throw new StoreProcessError('storage: the store process is restarting', 'STORE_PROCESS_EXITED');
      restarts += 1;
      // A failed open leaves the new store process running: it opens again at the next request
      // (starting a process costs far more than trying to open a file).
      ready = start().catch(() => {});
    }
    const current = child!;
    await ready;
    return current;
  }

  async function call(method: StoreMethod, args: unknown[]): Promise<unknown> {
    return send(await ready_(), { op: 'call', method, args });
  }

  ready = start();
  try {
    await ready;
  } catch (err) {
    closed = true;
    (child as ChildProcess | null)?.kill('SIGKILL');
    throw new Error((err as Error).message, { cause: err });
  }

  // Exchange ids are given here, where the recorder's queue is: a batch resent after the store
  // process died between its commit and its answer carries the same ids and writes nothing twice.
  const exchangeIds = new ExchangeIds(() => call('reserveExchangeIds', []) as Promise<ExchangeIdBlock>);

  const store: StoreProcess = {
    get kind() {
      return kind;
    },
    get pid() {
      return child?.pid ?? null;
    },
    get restarts() {
      return restarts;
    },
    migrate: () => call('migrate', []) as Promise<void>,
    write: async (batch, ids) => {
      await call('write', [batch, ids ?? (await exchangeIds.of(batch))]);
    },
    reserveExchangeIds: () => call('reserveExchangeIds', []) as Promise<ExchangeIdBlock>,
    upsertUpstreams: (list) => call('upsertUpstreams', [list]) as Promise<void>,
    setUpstreamFlags: (id, flags) => call('setUpstreamFlags', [id, flags]) as Promise<void>,
    listUpstreams: () => call('listUpstreams', []) as ReturnType<ObservationStore['listUpstreams']>,
    listSessions: (q) => call('listSessions', [q]) as ReturnType<ObservationStore['listSessions']>,
    getSession: (...args) => call('getSession', args) as ReturnType<ObservationStore['getSession']>,
    listExpirations: (q) => call('listExpirations', [q]) as ReturnType<ObservationStore['listExpirations']>,
    listExchanges: (q) => call('listExchanges', [q]) as ReturnType<ObservationStore['listExchanges']>,
    saveProbeRun: (run) => call('saveProbeRun', [run]) as Promise<void>,
    getProbeRun: (id) => call('getProbeRun', [id]) as ReturnType<ObservationStore['getProbeRun']>,
    listProbeRuns: (q) => call('listProbeRuns', [q]) as ReturnType<ObservationStore['listProbeRuns']>,
    failInterruptedProbeRuns: (...args) =>
      call('failInterruptedProbeRuns', args) as ReturnType<ObservationStore['failInterruptedProbeRuns']>,
    prune: (...args) => call('prune', args) as ReturnType<ObservationStore['prune']>,
    recordCredential: (obs) => call('recordCredential', [obs]) as Promise<void>,
    claimScheduledProbe: (...args) => call('claimScheduledProbe', args) as Promise<boolean>,
    requestProbeCancel: (...args) => call('requestProbeCancel', args) as Promise<boolean>,
    listProbeCancelRequests: (ids) => call('listProbeCancelRequests', [ids]) as Promise<string[]>,
    listCredentials: (...args) =>
      call('listCredentials', args) as ReturnType<NonNullable<ObservationStore['listCredentials']>>,
    async view(name, ...args) {
      return send(await ready_(), { op: 'view', view: name, args }) as never;
    },
    kill() {
      closed = true;
      child?.kill('SIGKILL');
    },
    async close() {
      if (closed) return;
      const proc = child;
      try {
        if (proc) await send(proc, { op: 'call', method: 'close', args: [] });
      } finally {
        closed = true;
        if (proc?.connected) proc.disconnect();
      }
      if (proc && proc.exitCode === null && proc.signalCode === null) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            proc.kill('SIGKILL');
            resolve();
          }, 2000);
          timer.unref();
          proc.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    },
  };
  return store;
}

/**
 * Forks ./host.js (built) or ./host.ts (through tsx, as `npm start` and the tests run). The
 * host is the same code either way; only the loader differs.
 */
function spawnHost(): ChildProcess {
  const built = fileURLToPath(new URL('./host.js', import.meta.url));
  const entry = existsSync(built) ? built : fileURLToPath(new URL('./host.ts', import.meta.url));
  const execArgv = process.execArgv.filter((a) => !a.startsWith('--inspect'));
  if (entry.endsWith('.ts') && !execArgv.some((a) => a.includes('tsx'))) {
    // Absolute, so that it resolves whatever the working directory is.
    const tsxDir = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
    execArgv.push('--import', pathToFileURL(join(tsxDir, 'dist', 'loader.mjs')).href);
  }
  return fork(entry, [], {
    execArgv,
    serialization: 'advanced',
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}
