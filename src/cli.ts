#!/usr/bin/env node
import { SERVE_USAGE, serveCommand } from './commands/serve.js';
import { ConfigError } from './config/load.js';

const USAGE = `mcp-session-probe: measure how long MCP sessions live, what a new one costs, and which session strategy to use.

Commands:
  serve    run the proxy, admin API and dashboard (starts a demo upstream with no config)
  probe    actively probe upstreams' idle session lifetime (read-only)
  report   lifetime estimate and strategy recommendation per upstream

Run "mcp-session-probe <command> --help" for a command's options.

${SERVE_USAGE}`;

type Command = (argv: string[]) => Promise<number>;

async function loadCommand(name: string): Promise<Command | null> {
  switch (name) {
    case 'serve':
      return serveCommand;
    case 'probe':
      return (await import('./commands/probe.js')).probeCommand;
    case 'report':
      return (await import('./commands/report.js')).reportCommand;
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
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    const code = (err as { code?: string }).code;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      process.stderr.write(`mcp-session-probe ${name}: ${(err as Error).message}\n`);
      return 2;
    }
    if (code === 'EADDRINUSE') {
      process.stderr.write(`mcp-session-probe: ${(err as Error).message}; choose another --port\n`);
      return 2;
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
