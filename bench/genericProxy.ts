// A generic Node reverse proxy, as users would otherwise put in front of an MCP server: a
// node:http server and http-proxy-3 with a keep-alive agent, routing `/mcp/<id>` like the proxy.
// A comparison row, not a target. argv: id=url pairs.
import { Agent, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer } from 'http-proxy-3';

const routes = new Map<string, { origin: string; path: string }>();
for (const arg of process.argv.slice(2)) {
  const eq = arg.indexOf('=');
  const url = new URL(arg.slice(eq + 1));
  routes.set(`/mcp/${arg.slice(0, eq)}`, { origin: url.origin, path: url.pathname });
}
const agent = new Agent({ keepAlive: true, maxSockets: 256 });
const proxy = createProxyServer({ agent, xfwd: false });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502).end();
  else res.destroy();
});

const server = createServer((req, res) => {
  const route = routes.get(req.url ?? '');
  if (!route) {
    res.writeHead(404).end();
    return;
  }
  req.url = route.path;
  proxy.web(req, res, { target: route.origin });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => {
  process.send?.({ type: 'ready', port: (server.address() as AddressInfo).port });
});
process.on('SIGTERM', () => process.exit(0));
