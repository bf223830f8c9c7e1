import { createServer, request, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type BodyLimits, createBodyBudget, readRequestBody } from './requestBody.js';

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
});

/** A server that reads each body with `limits` and answers 200 with its length (holding it `holdMs`). */
async function bodyServer(limits: BodyLimits, holdMs = 0): Promise<string> {
  const server = createServer(async (req, res) => {
    const held = await readRequestBody(
      req,
      res,
      req.headers['content-length'] ? Number(req.headers['content-length']) : null,
      limits,
    );
    if (held === null) return;
    setTimeout(() => {
      held.release();
      res.end(String(held.bytes.length));
    }, holdMs);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
}

/** POSTs `chunks` (chunked when `chunked`), `gapMs` apart; resolves with status, retry-after and body. */
function post(url: string, chunks: Buffer[], { chunked = true, gapMs = 0 } = {}) {
  return new Promise<{ status: number; retryAfter: string | undefined; body: string }>((resolve, reject) => {
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const req = request(
      url,
      { method: 'POST', headers: chunked ? {} : { 'content-length': total } },
      (res) => {
        let body = '';
        res.on('data', (d) => {
          body += d;
        });
        res.on('end', () =>
          resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] as string, body }),
        );
      },
    );
    req.on('error', reject);
    let i = 0;
    const next = () => {
      if (i === chunks.length) return req.end();
      req.write(chunks[i++]);
      setTimeout(next, gapMs);
    };
    next();
  });
}

const kib = (n: number) => Buffer.alloc(n * 1024, 0x20);

describe('readRequestBody', () => {
  it('a chunked body that would overflow the budget is refused with 503 and Retry-After; the budget is whole again after', async () => {
    const limits = { maxBodyBytes: 1024 * 1024, budget: createBodyBudget(256 * 1024), timeoutMs: 5000 };
    const url = await bodyServer(limits, 300);
    // The first holds 200 KiB for a while; the second, chunked, cannot fit beside it.
    const first = post(url, [kib(200)], { chunked: false });
    await new Promise((r) => setTimeout(r, 100));
    const second = await post(url, [kib(64), kib(64)], { gapMs: 20 });
    expect([second.status, second.retryAfter]).toEqual([503, '1']);
    expect(second.body).toContain('maxBufferedBodyBytes');
    expect((await first).body).toBe(String(200 * 1024));
    expect(limits.budget.held).toBe(0);
    // And a body that fits is read whole, chunked or not.
    expect((await post(url, [kib(64), kib(64)], { gapMs: 5 })).body).toBe(String(128 * 1024));
    expect(limits.budget.held).toBe(0);
  });

  it('a declared length over the budget is refused before a byte is read', async () => {
    const limits = { maxBodyBytes: 1024 * 1024, budget: createBodyBudget(100 * 1024), timeoutMs: 5000 };
    const url = await bodyServer(limits);
    const answer = await post(url, [kib(200)], { chunked: false });
    expect(answer.status).toBe(503);
    expect(limits.budget.held).toBe(0);
  });

  it('a body that stalls gets 408 at the deadline and gives its bytes back', async () => {
    const limits = { maxBodyBytes: 1024 * 1024, budget: createBodyBudget(1024 * 1024), timeoutMs: 300 };
    const url = await bodyServer(limits);
    const started = performance.now();
    const answer = await new Promise<number>((resolve, reject) => {
      const req = request(url, { method: 'POST', headers: { 'content-length': 100 * 1024 } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
      req.write(kib(10)); // ...and never the rest
    });
    expect(answer).toBe(408);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect(limits.budget.held).toBe(0);
  });

  it('a body over maxBodyBytes is 413, declared or chunked', async () => {
    const limits = { maxBodyBytes: 64 * 1024, budget: createBodyBudget(1024 * 1024), timeoutMs: 5000 };
    const url = await bodyServer(limits);
    expect((await post(url, [kib(65)], { chunked: false })).status).toBe(413);
    // Chunked, from a raw socket (node's own client reports the early answer as a hang-up when
    // the server half-closes while it is still writing): the answer arrives, then an orderly close.
    const { port } = new URL(url);
    const raw = await new Promise<string>((resolve) => {
      let got = '';
      const socket = connect(Number(port), '127.0.0.1', async () => {
        socket.write('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
        for (let i = 0; i < 3; i++) {
          socket.write(`${(32 * 1024).toString(16)}\r\n${' '.repeat(32 * 1024)}\r\n`);
          await new Promise((r) => setTimeout(r, 5));
        }
        socket.write('0\r\n\r\n');
      });
      socket.on('data', (d) => {
        got += d;
      });
      socket.on('error', () => {});
      socket.on('close', () => resolve(got));
    });
    expect(raw).toMatch(/^HTTP\/1\.1 413 /);
    expect(limits.budget.held).toBe(0);
  });
});
