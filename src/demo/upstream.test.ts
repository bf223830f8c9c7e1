import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import {
  StreamableHTTPClientTransport,
  StreamableHTTPError,
} from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterEach, describe, expect, it } from 'vitest';
import {
  deleteSession,
  initializeMessage,
  initializeSession,
  openEventStream,
  openLegacySession,
  postJsonRpc,
  toolsListMessage,
  upstreamPool,
} from '../../test/fixtures/upstreams.js';
import { isSessionExpired } from './upstream.js';

const upstreams = upstreamPool();
const clients: Client[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  await upstreams.closeAll();
});

/** A clock the test moves by hand, so expiry decisions are exact and need no sleeping. */
function manualClock(start = 1_000_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

async function connectClient(url: string, requestInit?: RequestInit): Promise<Client> {
  const client = new Client({ name: 'upstream-test', version: '0.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit }));
  clients.push(client);
  return client;
}

function toolText(result: Awaited<ReturnType<Client['callTool']>>): string {
  const [first] = result.content as Array<{ type: string; text?: string }>;
  return first?.text ?? '';
}

describe('startDemoUpstream: MCP features over the SDK client', () => {
  it('lists echo, add and slow_progress and runs them', async () => {
    const upstream = await upstreams.start();
    expect(upstream.url).toBe(`http://127.0.0.1:${upstream.port}/mcp`);
    const client = await connectClient(upstream.url);

    const { tools } = await client.listTools();
    expect(tools.map((tool) => tool.name)).toEqual(['echo', 'add', 'slow_progress']);
    expect(toolText(await client.callTool({ name: 'echo', arguments: { text: 'hi there' } }))).toBe(
      'hi there',
    );
    expect(toolText(await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } }))).toBe('42');
  });

  it('slow_progress sends one progress notification per step before its result', async () => {
    const upstream = await upstreams.start();
    const client = await connectClient(upstream.url);
    const progress: number[] = [];

    const result = await client.callTool(
      { name: 'slow_progress', arguments: { steps: 3, intervalMs: 20 } },
      undefined,
      {
        onprogress: ({ progress: step }) => progress.push(step),
      },
    );

    expect(progress).toEqual([1, 2, 3]);
    expect(toolText(result)).toBe('done after 3 steps');
  });

  it('offers a prompt and a resource', async () => {
    const upstream = await upstreams.start();
    const client = await connectClient(upstream.url);

    const prompt = await client.getPrompt({ name: 'greeting', arguments: { name: 'Ada' } });
    expect(prompt.messages[0]?.content).toEqual({ type: 'text', text: 'Say hello to Ada.' });
    const resource = await client.readResource({ uri: 'demo://about' });
    expect(resource.contents[0]).toMatchObject({ uri: 'demo://about' });
  });

  it('toolCount trims or pads the tool list', async () => {
    const one = await upstreams.start({ toolCount: 1 });
    const five = await upstreams.start({ toolCount: 5 });
    const listOne = await (await connectClient(one.url)).listTools();
    const listFive = await (await connectClient(five.url)).listTools();
    expect(listOne.tools.map((tool) => tool.name)).toEqual(['echo']);
    expect(listFive.tools.map((tool) => tool.name)).toEqual([
      'echo',
      'add',
      'slow_progress',
      'filler_4',
      'filler_5',
    ]);
  });

  it('largeToolList makes tools/list about 30 KB', async () => {
    const small = await upstreams.start({ responseMode: 'json' });
    const large = await upstreams.start({ responseMode: 'json', largeToolList: true });
    const sizeOf = async (url: string) => {
      const { sessionId } = await initializeSession(url);
      return (await postJsonRpc(url, toolsListMessage(), { sessionId })).text.length;
    };
    expect(await sizeOf(small.url)).toBeLessThan(5_000);
    const largeSize = await sizeOf(large.url);
    expect(largeSize).toBeGreaterThan(27_000);
    expect(largeSize).toBeLessThan(40_000);
  });
});

describe('startDemoUpstream: session lifecycle on the wire', () => {
  it('issues a session id on initialize and serves requests that carry it', async () => {
    const upstream = await upstreams.start();
    const { sessionId } = await initializeSession(upstream.url);
    expect(sessionId).toMatch(/^[0-9a-f-]{36}$/);

    const list = await postJsonRpc(upstream.url, toolsListMessage(), { sessionId });
    expect(list.status).toBe(200);
    expect(list.messages).toHaveLength(1);
    expect(upstream.stats.sessionsCreated).toBe(1);
    expect(upstream.stats.activeSessions()).toBe(1);
  });

  it('answers a non-initialize request without a session id with the SDK examples 400', async () => {
    const upstream = await upstreams.start();
    const response = await postJsonRpc(upstream.url, toolsListMessage());
    expect(response.status).toBe(400);
    expect(response.json).toEqual({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Bad Request: No valid session ID provided' },
      id: null,
    });
  });

  it('DELETE terminates the session: later requests get the expiry answer', async () => {
    const upstream = await upstreams.start();
    const { sessionId } = await initializeSession(upstream.url);

    expect((await deleteSession(upstream.url, { sessionId })).status).toBe(200);
    expect(upstream.stats.activeSessions()).toBe(0);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(404);
  });

  it('responseMode picks application/json or text/event-stream answers', async () => {
    const json = await upstreams.start({ responseMode: 'json' });
    const sse = await upstreams.start({ responseMode: 'sse' });
    for (const [upstream, contentType] of [
      [json, 'application/json'],
      [sse, 'text/event-stream'],
    ] as const) {
      const { sessionId } = await initializeSession(upstream.url);
      const list = await postJsonRpc(upstream.url, toolsListMessage(), { sessionId });
      expect(list.headers.get('content-type')).toContain(contentType);
      expect(list.messages[0]).toMatchObject({ id: 2, result: { tools: expect.any(Array) } });
    }
  });

  it('records every JSON-RPC method and the GET/DELETE HTTP methods, in order', async () => {
    const seen: string[] = [];
    const upstream = await upstreams.start({ onMethod: (method) => seen.push(method) });
    const { sessionId } = await initializeSession(upstream.url);
    await postJsonRpc(upstream.url, toolsListMessage(), { sessionId });
    const stream = await openEventStream(upstream.url, { sessionId });
    stream.close();
    await deleteSession(upstream.url, { sessionId });
    // Requests that are refused are still received, and logged.
    await postJsonRpc(upstream.url, {
      jsonrpc: '2.0',
      id: 9,
      method: 'tools/call',
      params: { name: 'echo' },
    });

    const expected = ['initialize', 'notifications/initialized', 'tools/list', 'GET', 'DELETE', 'tools/call'];
    expect(upstream.stats.methods).toEqual(expected);
    expect(seen).toEqual(expected);
  });

  it('close() ends open GET streams instead of hanging', async () => {
    const upstream = await upstreams.start();
    const { sessionId } = await initializeSession(upstream.url);
    const stream = await openEventStream(upstream.url, { sessionId });
    expect(stream.status).toBe(200);
    await upstream.close();
    await stream.ended;
  });
});

describe('startDemoUpstream: expiry', () => {
  it('idleTimeoutMs: a request just before the timeout survives, one at the timeout is refused', async () => {
    const clock = manualClock();
    const upstream = await upstreams.start({ idleTimeoutMs: 100, now: clock.now });
    const { sessionId } = await initializeSession(upstream.url);

    clock.advance(99);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(200);
    clock.advance(99); // the survival above restarted the idle clock
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(200);
    clock.advance(100);
    const expired = await postJsonRpc(upstream.url, toolsListMessage(), { sessionId });
    expect(expired.status).toBe(404);
    expect(upstream.stats.activeSessions()).toBe(0);
  });

  it('idleTimeoutMs works on the real clock too', async () => {
    const upstream = await upstreams.start({ idleTimeoutMs: 200 });
    const { sessionId } = await initializeSession(upstream.url);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(404);
  });

  it('lifetimeMs: the session dies at its age limit even while it is busy', async () => {
    const clock = manualClock();
    const upstream = await upstreams.start({ lifetimeMs: 100, now: clock.now });
    const { sessionId } = await initializeSession(upstream.url);

    clock.advance(60);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(200);
    clock.advance(39);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(200);
    clock.advance(1);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(404);
  });

  it('sweepIntervalMs: an eligible session survives until the next sweep removes it', async () => {
    const clock = manualClock();
    const upstream = await upstreams.start({ idleTimeoutMs: 100, sweepIntervalMs: 30, now: clock.now });
    const { sessionId } = await initializeSession(upstream.url);

    // Past the timeout, but with the sweeper's decision pending, the request still succeeds...
    clock.advance(500);
    const stillThere = await postJsonRpc(upstream.url, toolsListMessage(), { sessionId });
    expect(stillThere.status).toBe(200);
    // ...and it counts as activity, so the sweeps that follow keep the session.
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(upstream.stats.activeSessions()).toBe(1);

    clock.advance(500);
    await new Promise((resolve) => setTimeout(resolve, 80));
    expect(upstream.stats.activeSessions()).toBe(0);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(404);
  });

  it('spareWithStream: a session with an open GET stream never idle-expires, one without does', async () => {
    const clock = manualClock();
    const upstream = await upstreams.start({ idleTimeoutMs: 100, spareWithStream: true, now: clock.now });
    const withStream = await initializeSession(upstream.url);
    const without = await initializeSession(upstream.url);
    const stream = await openEventStream(upstream.url, { sessionId: withStream.sessionId });
    expect(stream.status).toBe(200);

    clock.advance(10_000);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), withStream)).status).toBe(200);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), without)).status).toBe(404);
    stream.close();
  });

  it('without spareWithStream an open GET stream does not keep the session alive', async () => {
    const clock = manualClock();
    const upstream = await upstreams.start({ idleTimeoutMs: 100, now: clock.now });
    const { sessionId } = await initializeSession(upstream.url);
    const stream = await openEventStream(upstream.url, { sessionId });
    expect(stream.status).toBe(200);

    clock.advance(100);
    expect((await postJsonRpc(upstream.url, toolsListMessage(), { sessionId })).status).toBe(404);
    // Forgetting the session also ends its stream.
    await stream.ended;
  });

  const expiryAnswers = [
    {
      expiryStyle: 'spec',
      status: 404,
      body: { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null },
    },
    {
      expiryStyle: 'sdk-400',
      status: 400,
      body: {
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Bad Request: No valid session ID provided' },
        id: null,
      },
    },
    {
      expiryStyle: 'python-404',
      status: 404,
      body: { jsonrpc: '2.0', id: 'server-error', error: { code: -32600, message: 'Session not found' } },
    },
    {
      expiryStyle: '401',
      status: 401,
      body: {
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Unauthorized: No valid session ID provided' },
        id: null,
      },
    },
  ] as const;

  it.each(expiryAnswers)('expiryStyle $expiryStyle answers $status for expired and unknown ids', async ({
    expiryStyle,
    status,
    body,
  }) => {
    const clock = manualClock();
    const upstream = await upstreams.start({ expiryStyle, idleTimeoutMs: 100, now: clock.now });
    const { sessionId } = await initializeSession(upstream.url);
    clock.advance(100);

    for (const id of [sessionId, 'made-up-session-id']) {
      const response = await postJsonRpc(upstream.url, toolsListMessage(), { sessionId: id });
      expect(response.status).toBe(status);
      expect(response.text).toBe(JSON.stringify(body));
      // Session errors are not auth challenges: only requireAuth sends WWW-Authenticate.
      expect(response.headers.get('www-authenticate')).toBeNull();
    }
  });

  it('expiryStyle accept-any serves made-up and expired session ids as if they were fine', async () => {
    const clock = manualClock();
    const upstream = await upstreams.start({ expiryStyle: 'accept-any', idleTimeoutMs: 100, now: clock.now });
    const { sessionId } = await initializeSession(upstream.url);
    clock.advance(1_000);

    for (const id of [sessionId, 'made-up-session-id']) {
      const response = await postJsonRpc(upstream.url, toolsListMessage(), { sessionId: id });
      expect(response.status).toBe(200);
      expect(response.headers.get('mcp-session-id')).toBe(id);
      expect(response.messages[0]).toMatchObject({ result: { tools: expect.any(Array) } });
    }
  });
});

describe('startDemoUpstream: the SDK client facing expiry', () => {
  it('surfaces a 404 as StreamableHTTPError 404 and keeps the dead session id', async () => {
    const clock = manualClock();
    const upstream = await upstreams.start({ idleTimeoutMs: 100, now: clock.now });
    const transport = new StreamableHTTPClientTransport(new URL(upstream.url));
    const client = new Client({ name: 'upstream-test', version: '0.0.0' });
    await client.connect(transport);
    clients.push(client);
    const issued = transport.sessionId;

    clock.advance(100);
    const error = await client.listTools().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(StreamableHTTPError);
    expect((error as StreamableHTTPError).code).toBe(404);
    // The SDK client does not re-initialize on its own.
    expect(transport.sessionId).toBe(issued);
    expect(upstream.stats.sessionsCreated).toBe(1);
  });
});

describe('startDemoUpstream: stateless', () => {
  it('issues no session id and answers tools/list without one', async () => {
    const upstream = await upstreams.start({ stateless: true });
    const { sessionId } = await initializeSession(upstream.url);
    expect(sessionId).toBeUndefined();

    const list = await postJsonRpc(upstream.url, toolsListMessage());
    expect(list.status).toBe(200);
    expect(list.messages[0]).toMatchObject({ result: { tools: expect.any(Array) } });
    expect(upstream.stats.sessionsCreated).toBe(0);
  });

  it('works with the SDK client and refuses GET with 405', async () => {
    const upstream = await upstreams.start({ stateless: true });
    const client = await connectClient(upstream.url);
    expect((await client.listTools()).tools).toHaveLength(3);
    const stream = await openEventStream(upstream.url);
    expect(stream.status).toBe(405);
  });
});

describe('startDemoUpstream: delays', () => {
  async function timed<T>(run: () => Promise<T>): Promise<{ result: T; ms: number }> {
    const start = performance.now();
    const result = await run();
    return { result, ms: performance.now() - start };
  }

  it('initDelayMs delays initialize only; latencyMs delays every other request', async () => {
    // initDelayMs far above latencyMs, so that a busy runner cannot blur the two.
    const upstream = await upstreams.start({ initDelayMs: 400, latencyMs: 60 });
    const init = await timed(() => postJsonRpc(upstream.url, initializeMessage()));
    const sessionId = init.result.headers.get('mcp-session-id') ?? undefined;
    const list = await timed(() => postJsonRpc(upstream.url, toolsListMessage(), { sessionId }));

    expect(init.result.status).toBe(200);
    expect(init.ms).toBeGreaterThanOrEqual(395);
    expect(list.result.status).toBe(200);
    expect(list.ms).toBeGreaterThanOrEqual(55);
    expect(list.ms).toBeLessThan(390);
  });
});

describe('startDemoUpstream: requireAuth', () => {
  it('refuses requests without the bearer token with a 401 challenge, not a session error', async () => {
    const upstream = await upstreams.start({ requireAuth: 'sesame' });
    const refused = await postJsonRpc(upstream.url, toolsListMessage());
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(refused.json).toEqual({
      error: 'invalid_token',
      error_description: 'Missing or invalid bearer token',
    });

    const wrong = await postJsonRpc(upstream.url, toolsListMessage(), {
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.status).toBe(401);
  });

  it('serves a client that sends the token', async () => {
    const upstream = await upstreams.start({ requireAuth: 'sesame' });
    const client = await connectClient(upstream.url, { headers: { Authorization: 'Bearer sesame' } });
    expect((await client.listTools()).tools).toHaveLength(3);
  });
});

describe('isSessionExpired', () => {
  const session = { createdAt: 0, lastActivityAt: 0, inFlight: 0, openStreams: 0 };
  it('never expires without a policy', () => {
    expect(isSessionExpired(session, 1e12, {})).toBe(false);
  });
  it('does not idle-expire a session that is answering a request', () => {
    expect(isSessionExpired({ ...session, inFlight: 1 }, 1_000, { idleTimeoutMs: 10 })).toBe(false);
  });
  it('lifetime wins over activity and streams', () => {
    const busy = { ...session, lastActivityAt: 999, inFlight: 1, openStreams: 1 };
    expect(isSessionExpired(busy, 1_000, { lifetimeMs: 1_000, spareWithStream: true })).toBe(true);
  });
});

describe('startLegacySseUpstream', () => {
  it('serves the SDK SSE client: tools, calls, and the same stats', async () => {
    const upstream = await upstreams.startLegacy();
    expect(upstream.url).toBe(`http://127.0.0.1:${upstream.port}/sse`);
    const client = new Client({ name: 'legacy-test', version: '0.0.0' });
    await client.connect(new SSEClientTransport(new URL(upstream.url)));
    clients.push(client);

    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual([
      'echo',
      'add',
      'slow_progress',
    ]);
    expect(toolText(await client.callTool({ name: 'echo', arguments: { text: 'legacy' } }))).toBe('legacy');
    expect(upstream.stats.sessionsCreated).toBe(1);
    expect(upstream.stats.activeSessions()).toBe(1);
    expect(upstream.stats.methods).toEqual([
      'GET',
      'initialize',
      'notifications/initialized',
      'tools/list',
      'tools/call',
    ]);
  });

  it('announces /messages?sessionId= and answers POSTs there with 202, the result on the stream', async () => {
    const upstream = await upstreams.startLegacy();
    const { stream, endpointUrl, sessionId } = await openLegacySession(upstream.url);
    expect(endpointUrl).toBe(`http://127.0.0.1:${upstream.port}/messages?sessionId=${sessionId}`);

    const accepted = await postJsonRpc(endpointUrl, { ...toolsListMessage(7), method: 'ping' });
    expect(accepted.status).toBe(202);
    const answer = await stream.nextEvent((event) => event.event === 'message');
    expect(JSON.parse(answer.data)).toEqual({ jsonrpc: '2.0', id: 7, result: {} });
    stream.close();
  });

  it('idleStreamCloseMs: the server ends a stream without POSTs, then refuses its sessionId with 404', async () => {
    const upstream = await upstreams.startLegacy({ idleStreamCloseMs: 80 });
    const { stream, endpointUrl } = await openLegacySession(upstream.url);

    await stream.ended;
    expect(upstream.stats.activeSessions()).toBe(0);
    const refused = await postJsonRpc(endpointUrl, { ...toolsListMessage(), method: 'ping' });
    expect(refused.status).toBe(404);
    expect(refused.text).toBe('Session not found');
  });

  it('idleStreamCloseMs: POSTs keep the stream open past the idle limit', async () => {
    const upstream = await upstreams.startLegacy({ idleStreamCloseMs: 400 });
    const { stream, endpointUrl } = await openLegacySession(upstream.url);
    // 12 x 50 ms spans 600 ms: well past the limit, while every gap stays far below it.
    for (let id = 1; id <= 12; id += 1) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await postJsonRpc(endpointUrl, { ...toolsListMessage(id), method: 'ping' })).status).toBe(202);
    }
    expect(upstream.stats.activeSessions()).toBe(1);
    stream.close();
  });

  it('a client hanging up ends the session; expiryStyle sdk-400 answers like the SDK example', async () => {
    const upstream = await upstreams.startLegacy({ expiryStyle: 'sdk-400' });
    const { stream, endpointUrl } = await openLegacySession(upstream.url);
    stream.close();
    await expect.poll(() => upstream.stats.activeSessions()).toBe(0);

    const refused = await postJsonRpc(endpointUrl, { ...toolsListMessage(), method: 'ping' });
    expect(refused.status).toBe(400);
    expect(refused.text).toBe('No transport found for sessionId');
  });

  it('requireAuth guards the stream', async () => {
    const upstream = await upstreams.startLegacy({ requireAuth: 'sesame' });
    const refused = await openEventStream(upstream.url);
    expect(refused.status).toBe(401);
    const { stream } = await openLegacySession(upstream.url, { headers: { authorization: 'Bearer sesame' } });
    stream.close();
  });
});
