// The demo upstream's sessionless leg (docs/eras.md): requests of MCP 2026-07-28 (the per-request
// `_meta` envelope) are answered on the same URL by the official SDK v2's `createMcpHandler`,
// strict (`legacy: 'reject'`), while 2025 requests keep their sessions. The SDK v2 is loaded only
// when a demo upstream serves this leg.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';

export interface SessionlessLeg {
  /** The SDK's own routing decision: does this request belong to the 2026 era? */
  claims(req: IncomingMessage, body: unknown): Promise<boolean>;
  serve(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<void>;
  close(): Promise<void>;
}

export async function startSessionlessLeg(): Promise<SessionlessLeg> {
  const { createMcpHandler, isLegacyRequest, McpServer } = await import('@modelcontextprotocol/server');
  const { toNodeHandler, toWebRequest } = await import('@modelcontextprotocol/node');
  // The same tools the 2025 leg lists first, so both eras see one server.
  const factory = () => {
    const server = new McpServer(
      { name: 'mcp-session-probe-demo', version: '0.1.0' },
      { capabilities: { tools: { listChanged: true } } },
    );
    server.registerTool(
      'echo',
      { description: 'Returns its text unchanged.', inputSchema: z.object({ text: z.string() }) },
      async ({ text }) => ({ content: [{ type: 'text', text }] }),
    );
    server.registerTool(
      'add',
      { description: 'Adds two numbers.', inputSchema: z.object({ a: z.number(), b: z.number() }) },
      async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }),
    );
    return server;
  };
  const handler = createMcpHandler(factory, { legacy: 'reject' });
  const node = toNodeHandler(handler);
  return {
    claims: async (req, body) =>
      req.method === 'POST' && !(await isLegacyRequest(await toWebRequest(req, body), body)),
    serve: (req, res, body) => node(req, res, body),
    close: async () => {
      await handler.close?.();
    },
  };
}
