import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitAt } from '../../test/helpers/sse.js';
import { createEndpointRewriter } from './legacyEndpoint.js';

const toProxy = (endpoint: string) => endpoint.replace('/messages', '/messages/up');

function run(
  chunks: Buffer[],
  rewrite: (endpoint: string) => string | null = toProxy,
  max?: number,
): { out: string; rewritten: boolean } {
  const r = createEndpointRewriter(rewrite, max);
  const parts = chunks.map((c) => r.push(c));
  parts.push(r.end());
  return { out: Buffer.concat(parts).toString('utf8'), rewritten: r.rewritten };
}

/** Splits `text` at the given byte offsets. */
const split = (text: string, cuts: number[]): Buffer[] => splitAt(Buffer.from(text, 'utf8'), cuts);

describe('createEndpointRewriter', () => {
  it('rewrites the SDK endpoint event and passes every other byte through unchanged', () => {
    const upstream =
      'event: endpoint\ndata: /messages?sessionId=abc\n\nevent: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n';
    const { out, rewritten } = run([Buffer.from(upstream)]);
    expect(rewritten).toBe(true);
    expect(out).toBe(
      'event: endpoint\ndata: /messages/up?sessionId=abc\n\nevent: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n',
    );
  });

  it('passes comments and other events before the endpoint through in whole', () => {
    const upstream =
      ': keep-alive\n\nevent: hello\ndata: x\n\nevent: endpoint\r\ndata: /messages?s=1\r\n\r\n';
    const { out } = run([Buffer.from(upstream)]);
    expect(out).toBe(': keep-alive\n\nevent: hello\ndata: x\n\nevent: endpoint\ndata: /messages/up?s=1\n\n');
  });

  it('holds back an incomplete endpoint event until its blank line arrives', () => {
    const r = createEndpointRewriter(toProxy);
    expect(r.push(Buffer.from('event: endpoint\ndata: /messages?a=1\n')).length).toBe(0);
    expect(r.push(Buffer.from('\r')).toString()).toBe('event: endpoint\ndata: /messages/up?a=1\n\n');
    // The `\n` completing that `\r\n` belongs to the rewritten event, which already ended.
    expect(r.push(Buffer.from('\nevent: message\n')).toString()).toBe('event: message\n');
    expect(r.push(Buffer.from('data: 1\n\n')).toString()).toBe('data: 1\n\n');
  });

  it('keeps the `\n` of a `\r\n` split across chunks when the endpoint event follows (found by the property)', () => {
    const before = ': a\r\n\r\n';
    const { out } = run([
      Buffer.from(before.slice(0, -1)),
      Buffer.from('\nevent: endpoint\ndata: /messages?x=1\n\n'),
    ]);
    expect(out).toBe(`${before}event: endpoint\ndata: /messages/up?x=1\n\n`);
  });

  it('leaves the event alone when the rewrite declines (null)', () => {
    const upstream = 'event: endpoint\ndata: https://elsewhere.example/messages\n\n';
    const { out, rewritten } = run([Buffer.from(upstream)], () => null);
    expect(out).toBe(upstream);
    expect(rewritten).toBe(false);
  });

  it('gives up holding bytes when no endpoint arrives within the limit', () => {
    const r = createEndpointRewriter(toProxy, 16);
    expect(r.push(Buffer.from('data: 0123456789abcdef')).toString()).toBe('data: 0123456789abcdef');
    expect(r.push(Buffer.from('\n\nevent: endpoint\ndata: /messages\n\n')).toString()).toBe(
      '\n\nevent: endpoint\ndata: /messages\n\n',
    );
    expect(r.rewritten).toBe(false);
  });

  it('is independent of chunk boundaries (property)', () => {
    const line = fc.stringMatching(/^[a-zA-Z0-9 {}":,é]{0,20}$/);
    const eol = fc.constantFrom('\n', '\r\n', '\r');
    const event = fc
      .tuple(fc.constantFrom('message', 'ping', undefined), line, eol)
      .map(([name, data, nl]) =>
        name === undefined ? `: ${data}${nl}${nl}` : `event: ${name}${nl}data: ${data}${nl}${nl}`,
      );
    fc.assert(
      fc.property(
        fc.array(event, { maxLength: 4 }),
        fc.array(event, { maxLength: 4 }),
        eol,
        fc.array(fc.nat(400), { maxLength: 12 }),
        (before, after, nl, cuts) => {
          const endpoint = `event: endpoint${nl}data: /messages?sessionId=s1${nl}${nl}`;
          const upstream = before.join('') + endpoint + after.join('');
          const expected = `${before.join('')}event: endpoint\ndata: /messages/up?sessionId=s1\n\n${after.join('')}`;
          const whole = run([Buffer.from(upstream)]);
          const chunked = run(split(upstream, cuts));
          expect(whole.out).toBe(expected);
          expect(chunked.out).toBe(expected);
          expect(chunked.rewritten).toBe(true);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
