// Reading a config file: parse (JSON or YAML), interpolate `${ENV_VAR}` in every
// string value, validate, and turn every problem into one line a person can act on:
//   config: upstreams[2].url "ftp://x" must be http or https
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml, YAMLError } from 'yaml';
import type { z } from 'zod';
import { redactText } from '../security/redact.js';
import {
  adminSchema,
  analysisSchema,
  type Config,
  configSchema,
  parseStorageUrl,
  probeScheduleSchema,
  serverSchema,
  storageSchema,
  telemetrySchema,
  trackerSchema,
  upstreamSchema,
} from './schema.js';

export type ConfigFormat = 'json' | 'yaml';
export type Env = Readonly<Record<string, string | undefined>>;

/** The environment variable naming the config file when `--config` is not given. */
export const CONFIG_PATH_ENV = 'MCP_PROBE_CONFIG';

/** A config problem a person must fix; `message` is one line per problem. The CLI exits 2 with it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[]) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super(list.join('\n'));
    this.problems = list;
  }
}

export interface LoadConfigOptions {
  /** Config file; falls back to `$MCP_PROBE_CONFIG`. */
  path?: string;
  env?: Env;
}

/**
 * Loads and validates the config file named by `path` or `$MCP_PROBE_CONFIG`.
 * Returns null when neither is set: the caller then starts the demo.
 * Throws ConfigError for anything wrong with the file.
 */
export async function loadConfig({
  path,
  env = process.env,
}: LoadConfigOptions = {}): Promise<Config | null> {
  const fromEnv = !path && Boolean(env[CONFIG_PATH_ENV]);
  const file = path || env[CONFIG_PATH_ENV];
  if (!file) return null;
  const origin = fromEnv ? `${CONFIG_PATH_ENV}=${file}` : file;

  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'it is a directory'
          : code === 'EACCES'
            ? 'permission denied'
            : (error as Error).message;
    throw new ConfigError(
      `config: cannot read ${origin}: ${reason}; pass --config FILE or set ${CONFIG_PATH_ENV}`,
    );
  }
  return parseConfigText(text, { format: formatFromPath(file), env, source: file });
}

/** `.json` → JSON, `.yaml`/`.yml` → YAML, anything else → undefined (try JSON, then YAML). */
export function formatFromPath(path: string): ConfigFormat | undefined {
  const ext = extname(path).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.yaml' || ext === '.yml') return 'yaml';
  return undefined;
}

export interface ParseConfigTextOptions {
  /** Undefined: try JSON, then YAML. */
  format?: ConfigFormat | undefined;
  env?: Env;
  /** Named in parse errors. */
  source?: string;
}

export function parseConfigText(
  text: string,
  { format, env = process.env, source = 'config' }: ParseConfigTextOptions = {},
): Config {
  return parseConfig(parseDocument(text, format, source), { env });
}

function parseDocument(text: string, format: ConfigFormat | undefined, source: string): unknown {
  if (text.trim() === '')
    throw new ConfigError(`config: ${source} is empty; see examples/config.example.yaml`);
  if (format === 'json' || format === undefined) {
    try {
      return JSON.parse(text);
    } catch (error) {
      if (format === 'json') {
        throw new ConfigError(`config: ${source} is not valid JSON: ${(error as Error).message}`);
      }
    }
  }
  try {
    return parseYaml(text);
  } catch (error) {
    const kind = format === 'yaml' ? 'YAML' : 'JSON or YAML';
    // The library's message ends "at line 4, column 1:" and then its own excerpt, which is
    // missing at the end of the file; ours always shows the line (or what precedes it).
    const message = (error as Error).message.split('\n')[0]!.replace(/:\s*$/, '');
    const at = error instanceof YAMLError ? error.linePos?.[0] : undefined;
    const excerpt = at ? `\n${sourceExcerpt(text, at.line, at.col)}` : '';
    throw new ConfigError(`config: ${source} is not valid ${kind}: ${message}${excerpt}`);
  }
}

/**
 * The line an error points at (1-based line and column), the line before it for context, and a
 * caret under the column; a blank or missing line says so instead of printing nothing.
 */
export function sourceExcerpt(text: string, line: number, col: number): string {
  const lines = text.split(/\r?\n/);
  const width = String(line).length;
  const row = (n: number, content: string) => `  ${String(n).padStart(width)} | ${content}`;
  const target = lines[line - 1] ?? '';
  const blank = target.trim() === '';
  const restEmpty = lines.slice(line - 1).every((l) => l.trim() === '');
  const out: string[] = [];
  // Before a blank line, the last line with something on it (where an unclosed quote began, say).
  let before = line - 2;
  while (blank && before > 0 && (lines[before] ?? '').trim() === '') before -= 1;
  if (before >= 0) out.push(row(before + 1, lines[before] ?? ''));
  out.push(row(line, blank ? (restEmpty ? '(end of file)' : '(blank line)') : target));
  const column = blank ? 0 : Math.min(Math.max(col, 1), target.length + 1) - 1;
  // Tabs kept, so the caret lines up however the terminal expands them.
  out.push(`  ${' '.repeat(width)} | ${target.slice(0, column).replace(/[^\t]/g, ' ')}^`);
  return out.join('\n');
}

export interface ParseConfigOptions {
  env?: Env;
}

/** Interpolates `${ENV_VAR}` in every string of an already-parsed document and validates it. */
export function parseConfig(document: unknown, { env = process.env }: ParseConfigOptions = {}): Config {
  if (document === null || typeof document !== 'object' || Array.isArray(document)) {
    throw new ConfigError(
      `config: the file must hold an object with an "upstreams" list, not ${describeValue(document)}`,
    );
  }
  const missing: string[] = [];
  const interpolated = interpolateEnv(document, env, [], missing);
  if (missing.length > 0) throw new ConfigError(missing);

  const result = configSchema.safeParse(interpolated, { error: phraseIssue });
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.flatMap((issue) => formatIssue(issue, interpolated)));
}

// ---------------------------------------------------------------- interpolation

const REFERENCE = /\$\$\{|\$\{([^}]*)\}/g;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `${NAME}` (must be set), `${NAME:-default}` (default when unset or empty),
 * `$${` for a literal `${`. Problems are collected in `problems`, one per reference.
 */
export function interpolateString(
  value: string,
  env: Env,
  path: readonly PathKey[],
  problems: string[],
): string {
  return value.replace(REFERENCE, (match, inner: string | undefined) => {
    if (inner === undefined) return '${';
    const separator = inner.indexOf(':-');
    const name = separator === -1 ? inner : inner.slice(0, separator);
    if (!VARIABLE_NAME.test(name)) {
      problems.push(
        `config: ${formatPath(path)} has ${match}, which is not a variable reference; write \${NAME}, \${NAME:-default} or $\${ for a literal`,
      );
      return match;
    }
    const current = env[name];
    if (separator !== -1)
      return current === undefined || current === '' ? inner.slice(separator + 2) : current;
    if (current === undefined) {
      problems.push(
        `config: ${formatPath(path)} needs environment variable ${name}, which is not set; set it or write \${${name}:-default}`,
      );
      return match;
    }
    return current;
  });
}

function interpolateEnv(value: unknown, env: Env, path: PathKey[], problems: string[]): unknown {
  if (typeof value === 'string') return interpolateString(value, env, path, problems);
  if (Array.isArray(value))
    return value.map((item, index) => interpolateEnv(item, env, [...path, index], problems));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, interpolateEnv(item, env, [...path, key], problems)]),
    );
  }
  return value;
}

// ---------------------------------------------------------------- messages

type PathKey = string | number;
type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

const TYPE_PHRASES: Record<string, string> = {
  string: 'must be a string (quote it in YAML)',
  number: 'must be a number',
  int: 'must be a whole number',
  boolean: 'must be true or false',
  array: 'must be a list',
  object: 'must be an object',
  record: 'must be an object',
};

/** Per-parse error map: zod's generic issues as predicate phrases. Schema-level messages win. */
function phraseIssue(issue: RawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      return TYPE_PHRASES[issue.expected] ?? `must be ${issue.expected}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      return issue.origin === 'string' ? 'must not be empty' : undefined;
    default:
      return undefined;
  }
}

// Field names per object, for "did you mean" on unknown keys. Keyed by the path with indices removed.
const KNOWN_FIELDS: Record<string, readonly string[]> = {
  '': Object.keys(configSchema.shape),
  upstreams: Object.keys(upstreamSchema.in.shape),
  'upstreams.probe': Object.keys(probeScheduleSchema.in.shape),
  server: Object.keys(serverSchema.shape),
  storage: Object.keys(storageSchema.shape),
  admin: Object.keys(adminSchema.shape),
  tracker: Object.keys(trackerSchema.shape),
  telemetry: Object.keys(telemetrySchema.shape),
  analysis: Object.keys(analysisSchema.shape),
};

function formatIssue(issue: Issue, document: unknown): string[] {
  const path = issue.path.filter((key): key is PathKey => typeof key !== 'symbol');
  if (issue.code === 'unrecognized_keys') {
    const known = KNOWN_FIELDS[path.filter((key) => typeof key === 'string').join('.')] ?? [];
    return issue.keys.map((key) => {
      const suggestion = closest(key, known);
      const hint = suggestion ? `did you mean ${suggestion}?` : `known fields: ${known.join(', ')}`;
      return `config: ${formatPath([...path, key])} is not a known field; ${hint}`;
    });
  }
  if (issue.code === 'invalid_key') {
    // A bad record key (a header name): the key is in the path, the reason in the inner issue.
    return [`config: ${formatPath(path)} ${issue.issues[0]?.message ?? 'is not a valid key'}`];
  }
  const value = valueAt(document, path);
  const shown = value === undefined ? '' : ` ${describeValue(value, isSecretPath(path))}`;
  return [`config: ${formatPath(path)}${shown} ${issue.message}`];
}

/** `upstreams[0].headers["X-Api-Key"]`; the root is `config`. */
export function formatPath(path: readonly PathKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out === '' ? 'config' : out;
}

function valueAt(document: unknown, path: readonly PathKey[]): unknown {
  let current = document;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PathKey, unknown>)[key];
  }
  return current;
}

// Header values and the admin token hold credentials: never echo them.
function isSecretPath(path: readonly PathKey[]): boolean {
  return (
    (path[0] === 'upstreams' && path[2] === 'headers' && path.length > 3) ||
    path.join('.') === 'admin.token' ||
    (path[0] === 'upstreams' &&
      path[2] === 'auth' &&
      (path[3] === 'clientSecret' || path[3] === 'privateKey'))
  );
}

function describeValue(value: unknown, secret = false): string {
  if (secret && typeof value === 'string') return '"[REDACTED]"';
  if (Array.isArray(value)) return value.length === 0 ? '[]' : '[…]';
  if (value !== null && typeof value === 'object') return '{…}';
  const text =
    typeof value === 'string' ? JSON.stringify(redactText(value, { maxLength: 80 })) : String(value);
  return text;
}

function closest(key: string, candidates: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    const distance = candidate.toLowerCase() === lower ? 0 : editDistance(lower, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 4)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution);
    }
    previous = current;
  }
  return previous[b.length]!;
}

// ---------------------------------------------------------------- defaults and CLI overrides

/** Every default, no upstreams: the base the demo adds its own upstream to. */
export function defaultConfig(): Config {
  return {
    upstreams: [],
    server: serverSchema.parse({}),
    storage: storageSchema.parse({}),
    admin: adminSchema.parse({}),
    tracker: trackerSchema.parse({}),
    telemetry: telemetrySchema.parse({}),
    analysis: analysisSchema.parse({}),
  };
}

/** The `serve`/`probe`/`report` flags that override the file. Strings as `parseArgs` yields them. */
export interface CliOverrides {
  port?: string | number | undefined;
  host?: string | undefined;
  /** A SQLite path, or a full storage URL (`sqlite:...`, `postgres://...`). */
  db?: string | undefined;
}

/** Returns a copy of `config` with the CLI flags applied; throws ConfigError for a bad flag. */
export function applyCliOverrides(config: Config, { port, host, db }: CliOverrides): Config {
  const server = { ...config.server };
  const storage = { ...config.storage };
  if (port !== undefined) {
    const text = String(port).trim();
    const value = /^\d+$/.test(text) ? Number(text) : Number.NaN;
    if (!(value >= 0 && value <= 65_535)) {
      throw new ConfigError(
        `config: --port ${JSON.stringify(String(port))} must be an integer from 0 to 65535`,
      );
    }
    server.port = value;
  }
  if (host !== undefined) {
    if (host.trim() === '') throw new ConfigError('config: --host "" must not be empty');
    server.host = host;
  }
  if (db !== undefined) {
    if (db.trim() === '') {
      throw new ConfigError('config: --db "" must be a SQLite file path or a storage URL (postgres://...)');
    }
    storage.url = parseStorageUrl(db) ? db : `sqlite:${db}`;
  }
  return { ...config, server, storage };
}
