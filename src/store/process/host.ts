// The store process: owns the store's connection (SQLite's memory-mapped WAL index included),
// runs every read, write and heavy analysis, and answers the forwarding process over IPC
// (./client.ts). A fault that kills a process that maps the database file (SIGBUS when the
// `-shm` file is truncated or made immutable, or a full disk under a mapped page) kills this
// one; the forwarding process keeps forwarding and starts another.
import { existsSync, rmSync } from 'node:fs';
import { openStoreForUpstreams } from '../index.js';
import type { ObservationStore } from '../types.js';
import type { StoreReply, StoreRequest } from './protocol.js';
import { runView } from './views.js';

let store: ObservationStore | null = null;
let opened: Extract<StoreRequest, { op: 'open' }> | null = null;

/**
 * Errors after which this connection stays broken even once the file is fixed: SQLite falls
 * back to a read-only WAL index when it cannot open `-shm` for writing, and keeps it. The next
 * request opens the store again.
 */
const REOPEN_AFTER = /^SQLITE_(READONLY|IOERR|CANTOPEN|NOTADB|CORRUPT)/;

/**
 * Test-only fault injection: while the file this names exists, the next committed write removes it
 * and kills this process before it answers (a commit whose acknowledgement is lost). Unset in
 * production; read once.
 */
const CRASH_AFTER_WRITE_FLAG = process.env['MCP_PROBE_TEST_CRASH_AFTER_WRITE'] || null;

function crashAfterWriteIfAsked(): void {
  if (CRASH_AFTER_WRITE_FLAG === null || !existsSync(CRASH_AFTER_WRITE_FLAG)) return;
  rmSync(CRASH_AFTER_WRITE_FLAG, { force: true });
  process.kill(process.pid, 'SIGKILL');
}

function reply(msg: StoreReply): void {
  // The parent may be gone already (it was killed); nothing to answer then.
  if (process.connected) process.send?.(msg);
}

async function handle(req: StoreRequest): Promise<unknown> {
  if (req.op === 'open') {
    // Kept before trying: when this open fails, the next request tries again, in this process.
    opened = req;
    // Migrations and the upstream rows, as the forwarding process did before it had a store process.
    store = await openStoreForUpstreams(req.url, req.upstreams);
    return store.kind;
  }
  if (store === null && opened !== null && !(req.op === 'call' && req.method === 'close')) {
    store = await openStoreForUpstreams(opened.url, opened.upstreams);
  }
  if (store === null) {
    if (req.op === 'call' && req.method === 'close') return undefined;
    throw new Error('storage: the store process has no open store');
  }
  const current = store;
  try {
    if (req.op === 'view') return await runView(current, req.view, req.args);
    const method = current[req.method] as (...args: unknown[]) => Promise<unknown>;
    const value = await method.apply(current, req.args);
    if (req.method === 'write') crashAfterWriteIfAsked();
    return value;
  } catch (err) {
    const code = (err as { code?: unknown } | null)?.code;
    if (typeof code === 'string' && REOPEN_AFTER.test(code) && store === current) {
      store = null;
      await current.close().catch(() => {});
    }
    throw err;
  }
}

process.on('message', (req: StoreRequest) => {
  handle(req).then(
    (value) => reply({ id: req.id, ok: true, value }),
    (err: unknown) => {
      const e = err as { message?: unknown; code?: unknown };
      reply({
        id: req.id,
        ok: false,
        error: {
          message: typeof e?.message === 'string' ? e.message : String(err),
          ...(typeof e?.code === 'string' ? { code: e.code } : {}),
        },
      });
    },
  );
});

// The forwarding process decides when to stop: it flushes its queue through this process
// first. A Ctrl-C reaches the whole process group, so ignore it here.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

// The parent closed the channel (a clean stop) or died: close the store and go.
process.on('disconnect', () => {
  const closing = store?.close() ?? Promise.resolve();
  closing.finally(() => process.exit(0));
});
