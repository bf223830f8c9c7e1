// The raw fast upstream: a minimal node:http JSON-RPC responder, so that what a
// proxy costs is not hidden behind an MCP SDK's own cost. It issues session ids
// on `initialize`, answers requests with small JSON results and notifications with 202.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

const TOOLS = JSON.stringify({
  tools: [{ name: 'echo', description: 'Returns its text.', inputSchema: { type: 'object' } }],
});

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(req.method === 'DELETE' ? 200 : 405).end();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    let msg: { id?: unknown; method?: string };
    try {
      msg = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}');
      return;
    }
    if (msg.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    let result = '{}';
    if (msg.method === 'initialize') {
      headers['mcp-session-id'] = randomUUID();
      result =
        '{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"raw","version":"1"}}';
    } else if (msg.method === 'tools/list') result = TOOLS;
    res.writeHead(200, headers);
    res.end(`{"jsonrpc":"2.0","id":${JSON.stringify(msg.id)},"result":${result}}`);
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('SIGTERM', () => process.exit(0));
