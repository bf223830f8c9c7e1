// A tiny structured logger for stderr. Every message and field passes through
// the one redaction module before it is written, so no secret reaches a log.
import { redactText } from './security/redact.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Where lines go; stderr by default. Tests capture it. */
  write?: (line: string) => void;
  json?: boolean;
}

function formatValue(v: unknown): string {
  if (v instanceof Error) return v.message;
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const threshold = ORDER[opts.level ?? (process.env['MCP_PROBE_LOG_LEVEL'] as LogLevel) ?? 'info'] ?? 20;
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const json = opts.json ?? process.env['MCP_PROBE_LOG_FORMAT'] === 'json';
  const log = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < threshold) return;
    if (json) {
      const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg: redactText(msg) };
      for (const k in fields) entry[k] = redactText(formatValue(fields[k]));
      write(JSON.stringify(entry));
      return;
    }
    let line = `${level.toUpperCase().padEnd(5)} ${redactText(msg)}`;
    for (const k in fields) line += ` ${k}=${redactText(formatValue(fields[k]))}`;
    write(line);
  };
  return {
    debug: (m, f) => log('debug', m, f),
    info: (m, f) => log('info', m, f),
    warn: (m, f) => log('warn', m, f),
    error: (m, f) => log('error', m, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
