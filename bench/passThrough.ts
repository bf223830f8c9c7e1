// The yardstick: the least a Node proxy can do. A node:http server and one undici
// Pool per upstream; hop-by-hop headers filtered, bodies piped, nothing else: no
// observation, no session tracking, no store. Routes `/mcp/<id>` like the proxy.
// argv: id=url pairs.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
]);

const routes = new Map<string, { pool: Pool; path: string }>();
for (const arg of process.argv.slice(2)) {
  const eq = arg.indexOf('=');
  const url = new URL(arg.slice(eq + 1));
  routes.set(`/mcp/${arg.slice(0, eq)}`, {
    pool: new Pool(url.origin, { connections: 256, keepAliveTimeout: 30_000 }),
    path: url.pathname,
  });
}

const server = createServer((req, res) => {
  const route = routes.get(req.url ?? '');
  if (!route) {
    res.writeHead(404).end();
    return;
  }
  const headers: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    if (!HOP_BY_HOP.has(raw[i]!.toLowerCase())) headers.push(raw[i]!, raw[i + 1]!);
  }
  route.pool.request(
    {
      method: req.method as 'POST',
      path: route.path,
      headers,
      body: req.method === 'POST' ? req : null,
      bodyTimeout: 0,
    },
    (err, data) => {
      if (err) {
        res.writeHead(502).end();
        return;
      }
      const out: Record<string, string | string[] | undefined> = {};
      for (const name in data.headers) if (!HOP_BY_HOP.has(name)) out[name] = data.headers[name];
      res.writeHead(data.statusCode, out);
      if (String(out['content-type']).startsWith('text/event-stream')) res.flushHeaders();
      data.body.pipe(res);
    },
  );
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('SIGTERM', () => process.exit(0));
