// nginx as the reference reverse proxy, when Debian's nginx is installed: one worker,
// keep-alive upstreams, buffering off, HTTP/1.1 upstream, in the foreground with its
// pid, logs and temp files in a temp dir.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopChild } from './processes.js';

export const NGINX_BIN = '/usr/sbin/nginx';

export interface NginxProxy {
  pid: number;
  port: number;
  close(): Promise<void>;
}

export async function startNginx(
  port: number,
  upstreams: Record<string, string>,
): Promise<NginxProxy | null> {
  if (!existsSync(NGINX_BIN)) return null;
  const dir = mkdtempSync(join(tmpdir(), 'mcp-probe-nginx-'));
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, t));
  const blocks: string[] = [];
  const locations: string[] = [];
  for (const [id, url] of Object.entries(upstreams)) {
    const u = new URL(url);
    blocks.push(`upstream up_${id} { server ${u.host}; keepalive 64; }`);
    locations.push(`location = /mcp/${id} {
      proxy_pass http://up_${id}${u.pathname};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 60s;
    }`);
  }
  const conf = `
worker_processes 1;
daemon off;
master_process on;
user root;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  ${blocks.join('\n  ')}
  server {
    listen 127.0.0.1:${port};
    ${locations.join('\n    ')}
  }
}`;
  const confPath = join(dir, 'nginx.conf');
  writeFileSync(confPath, conf);
  const child: ChildProcess = spawn(NGINX_BIN, ['-c', confPath, '-p', dir, '-e', join(dir, 'error.log')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const deadline = Date.now() + 5000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`bench: nginx did not start on port ${port}; see ${dir}/error.log`);
    }
    await sleep(30);
  }
  return {
    pid: child.pid!,
    port,
    close: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
