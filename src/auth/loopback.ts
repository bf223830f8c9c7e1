// The loopback redirect listener (RFC 8252 7.3): 127.0.0.1 on a free port, one path, waiting
// for the authorization server to send the browser back with `code` and our `state`.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';

export interface LoopbackRedirect {
  /** `http://127.0.0.1:<port>/callback` */
  readonly redirectUrl: string;
  readonly state: string;
  /** Resolves with the next authorization code delivered with the right state. */
  nextCode(timeoutMs: number): Promise<string>;
  close(): Promise<void>;
}

const PAGE = (title: string, text: string) =>
  `<!doctype html><meta charset="utf-8"><title>${title}</title><h1>${title}</h1><p>${text}</p>`;

export async function startLoopbackRedirect(): Promise<LoopbackRedirect> {
  const state = randomBytes(16).toString('base64url');
  let waiter: { resolve: (code: string) => void; reject: (err: Error) => void } | null = null;
  const queue: Array<{ code?: string; error?: string }> = [];
  const deliver = () => {
    if (!waiter || queue.length === 0) return;
    const next = queue.shift()!;
    const w = waiter;
    waiter = null;
    if (next.code) w.resolve(next.code);
    else w.reject(new Error(`authorization refused: ${next.error}`));
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/callback') {
      res.writeHead(404).end();
      return;
    }
    const code = url.searchParams.get('code');
    const error = url.searchParams.get('error');
    if (url.searchParams.get('state') !== state) {
      res
        .writeHead(400, { 'content-type': 'text/html' })
        .end(PAGE('Login failed', "The answer did not carry this login's state; start the login again."));
      return;
    }
    if (code) {
      res
        .writeHead(200, { 'content-type': 'text/html' })
        .end(PAGE('Logged in', 'You can close this window and return to the terminal.'));
      queue.push({ code });
    } else {
      const described = `${error ?? 'no code'}${url.searchParams.get('error_description') ? `: ${url.searchParams.get('error_description')}` : ''}`;
      res
        .writeHead(400, { 'content-type': 'text/html' })
        .end(PAGE('Login failed', described.replace(/[<>&]/g, '')));
      queue.push({ error: described });
    }
    deliver();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    redirectUrl: `http://127.0.0.1:${port}/callback`,
    state,
    nextCode(timeoutMs) {
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiter = null;
          reject(
            new Error(
              `no answer from the browser within ${Math.round(timeoutMs / 1000)} s; run the login again`,
            ),
          );
        }, timeoutMs);
        waiter = {
          resolve: (c) => {
            clearTimeout(timer);
            resolve(c);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
        deliver();
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
