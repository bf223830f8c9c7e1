// The one place secrets are removed before anything is stored, logged or put on a
// span (MCP Inspector style: a list of sensitive header names and body fields, one
// placeholder). Pure functions; every regex is compiled once, here.

export const REDACTED = '[REDACTED]';

/** Default cap for `redactText`: bodies and error messages are evidence, not archives. */
export const DEFAULT_MAX_TEXT_LENGTH = 2048;

/** Headers that always carry credentials. */
export const SENSITIVE_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'x-api-key',
  'mcp-session-id',
]);

// Any header whose name suggests a secret (`X-Linear-Token`, `X-Atlassian-Session`, `Idempotency-Key`).
const SENSITIVE_HEADER_WORD = /token|secret|key|auth|session|passw|credential|signature|cookie/i;

// Body fields (JSON keys, `name=value` pairs): the words above, narrowed so that
// `keywords`, `author` or `monkey` stay readable. Compared after dropping `-`/`_`.
const SENSITIVE_FIELD =
  /token|secret|password|passwd|apikey|accesskey|privatekey|clientsecret|credential|signature|cookie|authorization|sessionid|^(?:auth|key|pwd|sig|session|apitoken)$/i;

/** True for header names that carry (or may carry) a credential. Case-insensitive. */
export function isSensitiveHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return SENSITIVE_HEADERS.has(lower) || SENSITIVE_HEADER_WORD.test(lower);
}

/** True for body/query field names whose values are credentials (`access_token`, `apiKey`, `password`). */
export function isSensitiveField(name: string): boolean {
  return SENSITIVE_FIELD.test(name.replace(/[-_.]/g, ''));
}

export type HeaderValue = string | readonly string[] | number | undefined | null;
export type HeadersLike =
  | Headers
  | Iterable<readonly [string, string]>
  | Readonly<Record<string, HeaderValue>>;

/**
 * Copies `headers` with credential-bearing values replaced by `[REDACTED]`; other
 * values still go through `redactText` (a token can hide in `Referer` or a custom
 * header). Multi-valued headers are joined with `, `; undefined values are dropped.
 */
export function redactHeaders(headers: HeadersLike): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of headerEntries(headers)) {
    if (raw === undefined || raw === null) continue;
    const value = typeof raw === 'string' ? raw : typeof raw === 'number' ? String(raw) : raw.join(', ');
    out[name] = isSensitiveHeader(name) ? REDACTED : redactText(value);
  }
  return out;
}

function headerEntries(headers: HeadersLike): Iterable<readonly [string, HeaderValue]> {
  if (typeof Headers !== 'undefined' && headers instanceof Headers) return headers.entries();
  if (Symbol.iterator in headers) return headers as Iterable<readonly [string, string]>;
  return Object.entries(headers as Readonly<Record<string, HeaderValue>>);
}

/**
 * Scheme, host, port and path only: userinfo, query string and fragment are dropped
 * entirely, and a path segment that looks like a credential (`/mcp/sk-...`, a 40-char
 * key) becomes `[REDACTED]`. Text that is not a URL is redacted as text, query cut.
 */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = typeof url === 'string' ? new URL(url) : url;
  } catch {
    const text = String(url);
    const cut = text.search(/[?#]/);
    return redactText(cut === -1 ? text : text.slice(0, cut));
  }
  const path = parsed.pathname
    .split('/')
    .map((segment) =>
      segment !== '' && redactText(decodeSegment(segment)) !== decodeSegment(segment) ? REDACTED : segment,
    )
    .join('/');
  return `${parsed.protocol}//${parsed.host}${path}`;
}

/** The form of an upstream URL shown by the admin API and the dashboard (`displayUrl`). */
export const displayUrl: (url: string | URL) => string = redactUrl;

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

// ---------------------------------------------------------------- text

// `scheme://user:password@host`
const URL_USERINFO = /(?<![\w+.-])([a-z][a-z0-9+.-]*:\/\/)[^\s/?#@]+@/gi;
// `name=value`, `name: value`, `"name": "value"`; the name is checked with isSensitiveField.
// The two quotes around the name are matched separately, not as a pair: a stray quote
// earlier in the text (`A:" {"password": "x"}`) can end a quoted value and so take the
// name's opening quote, and the name must still be recognised from its closing one.
const NAMED_VALUE =
  /(?<![\w.-])(["']?)([A-Za-z][\w.-]{0,63})(["']?)(\s*[:=](?!\/\/)\s*)("(?:[^"\\\n]|\\.)*"|'[^'\n]*'|(?:(?:Bearer|Basic)\s+)?[^\s"'&,;<>(){}[\]]+)/gi;
const AUTH_SCHEME = /\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]+/gi;
const JWT = /eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}(?:\.[A-Za-z0-9_-]*)?/g;
// Vendor key prefixes: OpenAI/Anthropic `sk-`, GitHub, GitLab, Slack, Linear, Google, AWS.
const VENDOR_KEY =
  /\b(?:(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abpsr]-[A-Za-z0-9-]{10,}|lin_(?:api|oauth)_[A-Za-z0-9]{20,}|AIza[A-Za-z0-9_-]{30,}|AKIA[0-9A-Z]{16})/g;
// Long runs of base64/hex characters; judged by looksRandom.
const LONG_RUN = /(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_=-]{32,}/g;
const NESTED_PAIR = /[:=]/;
const HEX_ONLY = /^[0-9a-fA-F]+$/;
const HAS_DIGIT = /\d/;
const HAS_LETTER = /[A-Za-z]/;
const HAS_UPPER = /[A-Z]/;
const HAS_LOWER = /[a-z]/;
const TRAILING_WORD = /[A-Za-z0-9+/_=.~-]+$/;
const LITERAL = /^(?:-?\d+(?:\.\d+)?|true|false|null)$/;

// A long run is a secret when it has a digit and is hex, or mixes digits and letters;
// with `/` in it (a path?) it must also mix upper and lower case, as random base64 does.
function looksRandom(run: string): boolean {
  if (!HAS_DIGIT.test(run)) return false;
  if (HEX_ONLY.test(run)) return true;
  if (!HAS_LETTER.test(run)) return false;
  return !run.includes('/') || (HAS_UPPER.test(run) && HAS_LOWER.test(run));
}

export interface RedactTextOptions {
  /** Longer results are cut to this and marked `…[truncated, N chars]`. Default 2048. */
  maxLength?: number;
}

/**
 * Replaces credentials in free text (bodies, error messages, log lines): `Bearer xxx`,
 * `token=...`/`"api_key": "..."`, URL userinfo, JWTs, vendor keys (`sk-...`), and long
 * hex/base64 runs (≥ 32 chars). Then caps the length.
 */
export function redactText(
  text: string,
  { maxLength = DEFAULT_MAX_TEXT_LENGTH }: RedactTextOptions = {},
): string {
  // Cut absurdly long input first (cost), dropping a short word the cut may have split
  // so that no fragment of a secret too short to recognise survives.
  const window = maxLength + 1024;
  let work = text;
  if (text.length > window) {
    work = text.slice(0, window);
    const split = TRAILING_WORD.exec(work);
    if (split && split[0].length < 64) work = work.slice(0, split.index);
  }
  work = work
    .replace(URL_USERINFO, `$1${REDACTED}@`)
    .replace(NAMED_VALUE, redactNamedValue)
    .replace(AUTH_SCHEME, `$1$2${REDACTED}`)
    .replace(JWT, REDACTED)
    .replace(VENDOR_KEY, REDACTED)
    .replace(LONG_RUN, (run) => (looksRandom(run) ? REDACTED : run));
  if (text.length <= window && work.length <= maxLength) return work;
  return `${work.slice(0, maxLength)}…[truncated, ${text.length} chars]`;
}

function redactNamedValue(
  match: string,
  open: string,
  name: string,
  close: string,
  separator: string,
  value: string,
): string {
  if (isSensitiveField(name)) {
    if (LITERAL.test(value) || value.includes(REDACTED)) return match;
    const quoted = value.startsWith('"')
      ? `"${REDACTED}"`
      : value.startsWith("'")
        ? `'${REDACTED}'`
        : REDACTED;
    return `${open}${name}${close}${separator}${quoted}`;
  }
  // Not sensitive itself, but the value may hold a pair that is: `redirect=https://x?token=...`.
  if (!NESTED_PAIR.test(value)) return match;
  return `${open}${name}${close}${separator}${value.replace(NAMED_VALUE, redactNamedValue)}`;
}

/**
 * Deep copy of a JSON value with sensitive fields (`password`, `access_token`, `apiKey`...)
 * replaced and every other string passed through `redactText`. Numbers and booleans
 * under sensitive names are kept (`maxTokens: 100` is not a secret).
 */
export function redactJson(value: unknown, options?: RedactTextOptions): unknown {
  if (typeof value === 'string') return redactText(value, options);
  if (Array.isArray(value)) return value.map((item) => redactJson(item, options));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      const sensitive =
        isSensitiveField(key) && item !== null && typeof item !== 'number' && typeof item !== 'boolean';
      out[key] = sensitive ? REDACTED : redactJson(item, options);
    }
    return out;
  }
  return value;
}
