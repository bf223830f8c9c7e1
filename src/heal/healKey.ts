import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** `$MCP_PROBE_HOME`, else `~/.mcp-session-probe`: where the process keeps what outlives it. */
export function probeHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.MCP_PROBE_HOME && env.MCP_PROBE_HOME.length > 0
    ? env.MCP_PROBE_HOME
    : join(homedir(), '.mcp-session-probe');
}

/**
 * The secret heal mode seals downstream session ids with. A configured key (`server.healKey`,
 * the same on every replica) wins; otherwise one is generated once and kept in
 * `<home>/heal.key` (0600 in a 0700 folder), so sealed ids survive a restart of this process.
 * Two processes starting at once agree: the file is created exclusively, the loser reads it.
 */
export function resolveHealKey(configured: string | undefined, home: string = probeHome()): string {
  if (configured !== undefined && configured.length > 0) return configured;
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const file = join(home, 'heal.key');
  try {
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  chmodSync(file, 0o600);
  const key = readFileSync(file, 'utf8').trim();
  if (key.length < 16)
    throw new Error(`heal key file ${file} is empty or too short; delete it to generate a new one`);
  return key;
}
