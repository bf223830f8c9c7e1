#!/usr/bin/env node
import { serveCommand } from './commands/serve.js';
import { ConfigError } from './config/load.js';
import { STORE_UNREACHABLE, StoreUnreachableError } from './store/databaseUrl.js';

const USAGE = `mcp-session-probe: measure how long MCP sessions live, what a new one costs, and which session strategy to use.

Usage: mcp-session-probe <command> [options]

Commands:
  serve    run the proxy, admin API and dashboard (a built-in demo upstream when no config is given)
  probe    actively probe upstreams' idle session lifetime (read-only calls only)
  report   lifetime estimate and strategy recommendation per upstream, from the store
  login    log in to an OAuth-protected upstream once, in the browser (logout, auth status)

Run "mcp-session-probe <command> --help" for a command's options. Exit codes: 0 done,
1 unexpected failure, 2 usage or config error, 130 interrupted.`;

type Command = (argv: string[]) => Promise<number>;

/** node:util parseArgs failures: one line and exit 2, never a stack trace. */
const USAGE_ERRORS = new Set([
  'ERR_PARSE_ARGS_UNKNOWN_OPTION',
  'ERR_PARSE_ARGS_INVALID_OPTION_VALUE',
  'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL',
]);

async function loadCommand(name: string): Promise<Command | null> {
  switch (name) {
    case 'serve':
      return serveCommand;
    case 'probe':
      return (await import('./commands/probe.js')).probeCommand;
    case 'report':
      return (await import('./commands/report.js')).reportCommand;
    case 'login':
      return (await import('./commands/auth.js')).loginCommand;
    case 'logout':
      return (await import('./commands/auth.js')).logoutCommand;
    case 'auth':
      return (await import('./commands/auth.js')).authCommand;
    default:
      return null;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  if (name === '--version' || name === '-v') {
    const { readFile } = await import('node:fs/promises');
    const pkg = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    process.stdout.write(pkg.version + '\n');
    return 0;
  }
  let command: Command | null;
  try {
    command = await loadCommand(name);
  } catch {
    command = null;
  }
  if (!command) {
    process.stderr.write(`mcp-session-probe: unknown command "${name}"\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (err) {
    if (
      err instanceof ConfigError ||
      err instanceof StoreUnreachableError ||
      // From the store process: the code crosses IPC, on the error or (after start-up) its cause.
      (err as { code?: unknown } | null)?.code === STORE_UNREACHABLE ||
      ((err as { cause?: { code?: unknown } } | null)?.cause?.code ?? null) === STORE_UNREACHABLE
    ) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 2;
    }
    const code = (err as { code?: string }).code;
    if (code !== undefined && USAGE_ERRORS.has(code)) {
      process.stderr.write(
        `mcp-session-probe ${name}: ${(err as Error).message} (see "mcp-session-probe ${name} --help")\n`,
      );
      return 2;
    }
    if (code === 'EADDRINUSE' || code === 'EACCES') {
      const { address, port } = err as { address?: string; port?: number };
      const where = port === undefined ? '' : ` ${address ?? ''}:${port}`;
      const why =
        code === 'EADDRINUSE' ? 'is already in use (another serve?)' : 'is not allowed for this user';
      process.stderr.write(
        `mcp-session-probe ${name}: port${where} ${why}; choose another with --port N (--port 0 picks a free one)\n`,
      );
      // The server never started, but what it set up before listening (the demo upstream, the
      // store, probe timers) would keep the process alive: leave now.
      process.exit(2);
    }
    process.stderr.write(`mcp-session-probe ${name}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`${String(err)}\n`);
    process.exitCode = 1;
  },
);
