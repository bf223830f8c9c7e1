// The config file's shape (docs/contract.md "Interfaces (contract)" → Config). Messages
// are predicate phrases ("must be http or https"): load.ts prefixes them with the
// field path and the offending value, so a reader gets one line that says what to fix.
import { z } from 'zod';

/** Upstream ids appear in routes (`/mcp/:upstream`), metrics labels and file names. */
export const UPSTREAM_ID_PATTERN = /^[a-z0-9][a-z0-9_-]{0,63}$/;

const DURATION_UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+$/;
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/g;

/**
 * `"90s"`, `"30m"`, `"6h"`, `"1d"`, `"250ms"`, compounds such as `"1h30m"`; a bare
 * number is seconds. Returns milliseconds, or null when the text is not a duration.
 */
export function parseDuration(value: string | number): number | null {
  if (typeof value === 'number')
    return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null;
  const text = value.trim();
  if (/^\d+(?:\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  if (!DURATION_PATTERN.test(text)) return null;
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(DURATION_PART)) {
    ms += Number(amount) * DURATION_UNIT_MS[unit as keyof typeof DURATION_UNIT_MS];
  }
  return Math.round(ms);
}

export type StorageLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** `sqlite:./file.db`, `sqlite::memory:`, `postgres://...` / `postgresql://...`; null otherwise. */
export function parseStorageUrl(url: string): StorageLocation | null {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    return path === '' ? null : { kind: 'sqlite', path };
  }
  if (/^postgres(?:ql)?:\/\/./.test(url)) return { kind: 'postgres', url };
  return null;
}

// RFC 9110 token characters.
const HEADER_NAME_PATTERN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const positiveSeconds = (what: string) =>
  z.number().refine((n) => Number.isFinite(n) && n > 0, `must be a positive number of ${what}`);

const httpUrl = z.string().superRefine((value, ctx) => {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'must be an absolute http or https URL' });
    return;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: 'must be http or https' });
  }
});

const duration = z
  .union([z.string(), z.number()], { error: 'must be a duration like "90s", "30m" or "6h"' })
  .transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === null || ms <= 0) {
      ctx.addIssue({ code: 'custom', message: 'must be a duration like "90s", "30m" or "6h"' });
      return z.NEVER;
    }
    return ms;
  });

export const PROBE_MODES = ['search', 'ladder', 'fanout', 'bisect'] as const;
export type ProbeMode = (typeof PROBE_MODES)[number];

export const probeScheduleSchema = z
  .strictObject({
    every: duration,
    // fanout: a schedule repeats, and a fixed set of gaps keeps its runs comparable.
    mode: z.enum(PROBE_MODES).default('fanout'),
    /** Idle gaps to test, in seconds; the prober's default ladder when absent. */
    intervals: z
      .array(positiveSeconds('seconds'))
      .min(1, 'must list at least one idle gap in seconds')
      .optional(),
  })
  .transform(({ every, ...rest }) => ({ everyMs: every, ...rest }));

export const UPSTREAM_TRANSPORTS = ['streamable-http', 'sse', 'auto'] as const;
export type UpstreamTransport = (typeof UPSTREAM_TRANSPORTS)[number];

const transport = z
  .enum([...UPSTREAM_TRANSPORTS, 'http'], { error: 'must be streamable-http, sse or auto' })
  .transform((value): UpstreamTransport => (value === 'http' ? 'streamable-http' : value));

const headers = z.record(
  z.string().regex(HEADER_NAME_PATTERN, 'is not a valid HTTP header name'),
  z.string().refine((value) => !/[\r\n\0]/.test(value), 'must not contain line breaks'),
);

/**
 * How active probes authenticate (docs/oauth.md). `oauth`: a login stored by
 * `mcp-session-probe login`, refreshed headlessly; `client_credentials`: machine-to-machine,
 * a client secret or a private key (private_key_jwt). Static `headers` stay the third way.
 */
const scopeList = z.array(
  z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be a scope token (no spaces or quotes)'),
);
export const upstreamAuthSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('oauth'),
      scopes: scopeList.optional(),
      /** A pre-registered client; absent: CIMD when the server supports it, else dynamic registration. */
      clientId: z.string().min(1, 'must not be empty').optional(),
      clientSecret: z.string().min(1, 'must not be empty').optional(),
      /** The https URL of this client's metadata document (CIMD), used when the server supports CIMD. */
      clientMetadataUrl: httpUrl.optional(),
    }),
    z
      .strictObject({
        type: z.literal('client_credentials'),
        clientId: z.string().min(1, 'must not be empty'),
        clientSecret: z.string().min(1, 'must not be empty').optional(),
        /** PEM private key for private_key_jwt client authentication (instead of a secret). */
        privateKey: z.string().min(1, 'must not be empty').optional(),
        algorithm: z.string().min(1, 'must not be empty').default('RS256'),
        scopes: scopeList.optional(),
      })
      .refine((a) => (a.clientSecret === undefined) !== (a.privateKey === undefined), {
        message: 'needs exactly one of clientSecret or privateKey',
      }),
  ],
  { error: 'must have type oauth or client_credentials' },
);
export type UpstreamAuth = z.output<typeof upstreamAuthSchema>;

export const upstreamSchema = z
  .strictObject({
    id: z.string().regex(UPSTREAM_ID_PATTERN, 'must match [a-z0-9][a-z0-9_-]{0,63}'),
    name: z.string().min(1, 'must not be empty').optional(),
    url: httpUrl,
    transport: transport.default('streamable-http'),
    /** Sent by active probes only; proxied requests carry the agent's own headers. */
    headers: headers.default({}),
    /** The whole wait for an answer's headers through the proxy, queueing for a connection included. */
    timeoutSeconds: positiveSeconds('seconds').default(60),
    /**
     * Requests in flight to this upstream (queued for a connection or sent) beyond which the
     * proxy answers 503 with Retry-After at once instead of queueing more (a circuit breaker).
     * Standalone GET streams are not counted: they have a connection pool of their own.
     */
    maxConcurrentRequests: z
      .number()
      .refine((n) => Number.isInteger(n) && n > 0, 'must be a positive whole number')
      .optional(),
    probe: probeScheduleSchema.optional(),
    auth: upstreamAuthSchema.optional(),
    /**
     * Heal mode (docs/heal.md): an agent's request on an expired upstream session is answered
     * from a replacement session opened with the agent's own `initialize` parameters.
     * Off unless `true`.
     */
    heal: z.boolean().optional(),
  })
  .transform(({ id, name, ...rest }) => ({ id, name: name ?? id, ...rest }));

const upstreams = z
  .array(upstreamSchema)
  .min(1, 'must list at least one upstream (run without --config to start the demo)')
  .superRefine((list, ctx) => {
    const firstIndex = new Map<string, number>();
    list.forEach((upstream, index) => {
      const first = firstIndex.get(upstream.id);
      if (first === undefined) {
        firstIndex.set(upstream.id, index);
        return;
      }
      ctx.addIssue({
        code: 'custom',
        path: [index, 'id'],
        message: `is already used by upstreams[${first}]; give each upstream its own id`,
      });
    });
  });

const port = z
  .number()
  .refine((n) => Number.isInteger(n) && n >= 0 && n <= 65_535, 'must be an integer from 0 to 65535');

export const serverSchema = z.strictObject({
  host: z.string().min(1, 'must not be empty').default('127.0.0.1'),
  port: port.default(8787),
  maxBodyBytes: z
    .number()
    .refine((n) => Number.isInteger(n) && n > 0, 'must be a positive whole number of bytes')
    .default(10 * 1024 * 1024),
  /**
   * Bytes all request bodies being read or forwarded may hold together; a body that does not
   * fit is answered 503 with Retry-After (before it is read, when it declares its length).
   */
  maxBufferedBodyBytes: z
    .number()
    .refine((n) => Number.isInteger(n) && n > 0, 'must be a positive whole number of bytes')
    .default(64 * 1024 * 1024),
  /** A request body must arrive whole within this time (408 otherwise). */
  bodyTimeoutSeconds: positiveSeconds('seconds').default(10),
  shutdownGraceSeconds: z
    .number()
    .refine((n) => Number.isFinite(n) && n >= 0, 'must be zero or a positive number of seconds')
    .default(10),
  /**
   * The secret heal mode seals agents' session ids with (docs/heal.md). Give every replica the
   * same one; without it a key is generated once under MCP_PROBE_HOME.
   */
  healKey: z.string().min(16, 'must be at least 16 characters (e.g. ${MCP_PROBE_HEAL_KEY})').optional(),
});

export const storageSchema = z.strictObject({
  url: z
    .string()
    .refine((url) => parseStorageUrl(url) !== null, 'must be sqlite:PATH or postgres://...')
    .default('sqlite:./mcp-session-probe.db'),
  /**
   * Delete exchanges, sessions and finished probe runs older than this many days (checked at
   * start and hourly). Absent: keep everything.
   */
  retentionDays: z
    .number()
    .refine((n) => Number.isFinite(n) && n > 0, 'must be a positive number of days')
    .optional(),
});

export const adminSchema = z.strictObject({
  // An empty string (e.g. `${MCP_PROBE_ADMIN_TOKEN:-}`) means "no token".
  token: z
    .string()
    .optional()
    .transform((token) => (token === undefined || token === '' ? undefined : token)),
});

export const trackerSchema = z.strictObject({
  maxSessions: z
    .number()
    .refine((n) => Number.isInteger(n) && n > 0, 'must be a positive whole number')
    .default(100_000),
  evictIdleAfterSeconds: positiveSeconds('seconds').default(86_400),
});

export const telemetrySchema = z.strictObject({
  injectMeta: z.boolean().default(false),
});

export const analysisSchema = z.strictObject({
  turnGapSeconds: positiveSeconds('seconds').default(120),
});

export const configSchema = z.strictObject({
  upstreams,
  // prefault (not default) so that an absent section still gets its fields' defaults.
  server: serverSchema.prefault({}),
  storage: storageSchema.prefault({}),
  admin: adminSchema.prefault({}),
  tracker: trackerSchema.prefault({}),
  telemetry: telemetrySchema.prefault({}),
  analysis: analysisSchema.prefault({}),
});

/** A validated config: defaults applied, `transport` aliases resolved, `probe.every` in ms. */
export type Config = z.output<typeof configSchema>;
/** What a config file may contain (before defaults and transforms). */
export type ConfigInput = z.input<typeof configSchema>;
export type UpstreamConfig = Config['upstreams'][number];
export type ProbeSchedule = NonNullable<UpstreamConfig['probe']>;
export type ServerConfig = Config['server'];
