import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readRequestEnvelope } from '../sessions/jsonrpc.js';
import {
  FULL_PARSE_MAX_BYTES,
  readRequestEnvelopeBounded,
  SCAN_WINDOW_BYTES,
  scanRequestEnvelope,
} from './requestEnvelope.js';

const shortString = fc.string({ maxLength: 40 });
const message = fc.record(
  {
    jsonrpc: fc.constant('2.0'),
    method: fc.oneof(fc.constantFrom('tools/call', 'initialize', 'ping', 'tools/list'), shortString),
    id: fc.oneof(fc.integer(), shortString, fc.constant(null)),
    params: fc.oneof(
      fc.record(
        {
          name: shortString,
          protocolVersion: shortString,
          clientInfo: fc.record({ name: shortString, version: shortString }, { requiredKeys: [] }),
          _meta: fc.record(
            { traceparent: shortString, 'io.modelcontextprotocol/protocolVersion': shortString },
            { requiredKeys: [] },
          ),
          arguments: fc.jsonValue({ maxDepth: 4 }),
        },
        { requiredKeys: [] },
      ),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    result: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: ['jsonrpc'] },
);

describe('scanRequestEnvelope', () => {
  it('reads what the whole-body parse reads, for single messages and batches (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(message, fc.array(fc.oneof(message, fc.jsonValue({ maxDepth: 1 })), { maxLength: 5 })),
        fc.boolean(),
        (doc, pretty) => {
          const text = JSON.stringify(doc, null, pretty ? 2 : undefined);
          expect(scanRequestEnvelope(Buffer.from(text))).toEqual(readRequestEnvelope(text));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('a whole nested body scanned (no window) is read without building the tree', () => {
    const depth = 1024 * 1024;
    const body = Buffer.alloc(depth * 2);
    body.fill(0x5b, 0, depth);
    body.fill(0x5d, depth);
    const env = scanRequestEnvelope(body);
    expect(env.method).toBeNull();
    expect(env.count).toBe(0);
  });

  it('reads a large body only within its window: what came before the cut counts', () => {
    const args = `{"blob":"${'x'.repeat(2 * SCAN_WINDOW_BYTES)}"}`;
    // The SDK writes method and params first, jsonrpc and id last.
    const text = `{"method":"tools/call","params":{"name":"upload","arguments":${args}},"jsonrpc":"2.0","id":9}`;
    const env = readRequestEnvelopeBounded(Buffer.from(text));
    expect(env).toMatchObject({ count: 1, method: 'tools/call', toolName: 'upload', id: null, ids: [] });
    // 10 MiB of nesting in a batch: nothing is read, quickly.
    const nested = Buffer.alloc(10 * 1024 * 1024, 0x5b);
    const start = performance.now();
    expect(readRequestEnvelopeBounded(nested).method).toBeNull();
    expect(performance.now() - start).toBeLessThan(200);
  });

  it('a large tools/call keeps its method, id and tool name; its arguments are skipped', () => {
    const big = 'x'.repeat(2 * FULL_PARSE_MAX_BYTES);
    const nested = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    // Within the window: read whole, the id after params included.
    const text = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"arguments":{"blob":"${big}","deep":${nested}},"name":"upload","_meta":{"traceparent":"00-t-s-01"}}}`;
    const env = readRequestEnvelopeBounded(Buffer.from(text));
    expect(env).toMatchObject({
      count: 1,
      method: 'tools/call',
      id: '7',
      ids: ['7'],
      toolName: 'upload',
      expectsResponse: true,
      metaTraceparent: '00-t-s-01',
    });
  });

  it('a body that is not JSON, or ends early, is unknown', () => {
    const pad = ' '.repeat(FULL_PARSE_MAX_BYTES);
    for (const text of [
      `${pad}{"method":"ping","id":1`,
      `${pad}{"method":"ping","id":1}}`,
      `${pad}[{"method":"ping","id":1}`,
      `${pad}not json`,
    ]) {
      expect(readRequestEnvelopeBounded(Buffer.from(text)).method).toBeNull();
    }
  });

  it('keeps at most 1024 ids of a huge batch but counts every message', () => {
    const batch = Array.from({ length: 3000 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' }));
    const env = readRequestEnvelopeBounded(Buffer.from(JSON.stringify(batch)));
    expect(env.count).toBe(3000);
    expect(env.ids).toHaveLength(1024);
    expect(env.method).toBe('ping');
  });
});
