// biome-ignore-all lint/suspicious/noTemplateCurlyInString: `${VAR}` in plain strings is the config syntax under test.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  applyCliOverrides,
  ConfigError,
  defaultConfig,
  loadConfig,
  parseConfig,
  parseConfigText,
  parseDuration,
} from './index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mcp-probe-config-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** The ConfigError message for `document`, or a failure when it parses. */
function problem(document: unknown, env: Record<string, string> = {}): string {
  try {
    parseConfig(document, { env });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError');
}

const upstream = (fields: Record<string, unknown> = {}) => ({
  id: 'linear',
  url: 'https://mcp.linear.app/mcp',
  ...fields,
});

describe('loadConfig', () => {
  it('returns null with neither a path nor MCP_PROBE_CONFIG (the caller starts the demo)', async () => {
    expect(await loadConfig({ env: {} })).toBeNull();
    expect(await loadConfig({ env: { MCP_PROBE_CONFIG: '' } })).toBeNull();
  });

  it('reads JSON by extension, interpolating env vars', async () => {
    const path = await file(
      'probe.json',
      JSON.stringify({
        upstreams: [
          {
            id: 'linear',
            name: 'Linear',
            url: 'https://mcp.linear.app/mcp',
            headers: { Authorization: 'Bearer ${LINEAR_TOKEN}' },
          },
        ],
        admin: { token: '${MCP_PROBE_ADMIN_TOKEN}' },
      }),
    );
    const config = await loadConfig({ path, env: { LINEAR_TOKEN: 'lin_123', MCP_PROBE_ADMIN_TOKEN: 'adm' } });
    expect(config?.upstreams[0]?.headers).toEqual({ Authorization: 'Bearer lin_123' });
    expect(config?.upstreams[0]?.name).toBe('Linear');
    expect(config?.admin.token).toBe('adm');
  });

  it('reads YAML by extension (.yaml and .yml)', async () => {
    const yaml = [
      'upstreams:',
      '  - id: atlassian',
      '    url: https://mcp.atlassian.com/v1/sse',
      '    transport: sse',
      '    probe: { every: 30m, mode: fanout, intervals: [5, 30, 60] }',
      'server:',
      '  port: 9000',
    ].join('\n');
    for (const name of ['probe.yaml', 'probe.yml']) {
      const config = await loadConfig({ path: await file(name, yaml), env: {} });
      expect(config?.upstreams[0]).toMatchObject({
        id: 'atlassian',
        transport: 'sse',
        probe: { everyMs: 1_800_000, mode: 'fanout', intervals: [5, 30, 60] },
      });
      expect(config?.server.port).toBe(9000);
    }
  });

  it('falls back to JSON then YAML for other extensions, and reads MCP_PROBE_CONFIG', async () => {
    const asJson = await file('probe.conf', JSON.stringify({ upstreams: [upstream()] }));
    const asYaml = await file(
      'probe.txt',
      'upstreams:\n  - id: linear\n    url: https://mcp.linear.app/mcp\n',
    );
    expect((await loadConfig({ env: { MCP_PROBE_CONFIG: asJson } }))?.upstreams[0]?.id).toBe('linear');
    expect((await loadConfig({ path: asYaml, env: {} }))?.upstreams[0]?.id).toBe('linear');
  });

  it('names the file it cannot read, and where the name came from', async () => {
    const missing = join(dir, 'nope.yaml');
    await expect(loadConfig({ path: missing, env: {} })).rejects.toThrow(
      `config: cannot read ${missing}: no such file; pass --config FILE or set MCP_PROBE_CONFIG`,
    );
    await expect(loadConfig({ env: { MCP_PROBE_CONFIG: missing } })).rejects.toThrow(
      `config: cannot read MCP_PROBE_CONFIG=${missing}: no such file; pass --config FILE or set MCP_PROBE_CONFIG`,
    );
  });

  it('reports syntax errors with the format it expected', async () => {
    const badJson = await file('bad.json', '{ "upstreams": [ }');
    await expect(loadConfig({ path: badJson, env: {} })).rejects.toThrow(
      /^config: .*bad\.json is not valid JSON: /,
    );
    const badYaml = await file('bad.yaml', 'upstreams:\n  - id: a\n   url: x\n');
    await expect(loadConfig({ path: badYaml, env: {} })).rejects.toThrow(
      /^config: .*bad\.yaml is not valid YAML: /,
    );
    // The line and a caret under the column, never "line 3, column 1:" followed by nothing.
    await expect(loadConfig({ path: badYaml, env: {} })).rejects.toThrow(
      `config: ${badYaml} is not valid YAML: Sequence item without - indicator at line 3, column 1\n` +
        '  2 |   - id: a\n' +
        '  3 |    url: x\n' +
        '    | ^',
    );
    const unclosed = await file('unclosed.yaml', 'upstreams:\n  - id: "a\n    url: x\n\n');
    await expect(loadConfig({ path: unclosed, env: {} })).rejects.toThrow(
      /is not valid YAML: Missing closing "quote at line 5, column 1\n {2}3 \| {5}url: x\n {2}5 \| \(end of file\)\n {4}\| \^$/,
    );
    const empty = await file('empty.yaml', '\n');
    await expect(loadConfig({ path: empty, env: {} })).rejects.toThrow(
      `config: ${empty} is empty; see examples/config.example.yaml`,
    );
  });
});

describe('defaults', () => {
  it('fills every section', () => {
    const config = parseConfig({ upstreams: [upstream()] }, { env: {} });
    expect(config).toEqual({
      upstreams: [
        {
          id: 'linear',
          name: 'linear',
          url: 'https://mcp.linear.app/mcp',
          transport: 'streamable-http',
          headers: {},
          timeoutSeconds: 60,
        },
      ],
      server: {
        host: '127.0.0.1',
        port: 8787,
        maxBodyBytes: 10 * 1024 * 1024,
        maxBufferedBodyBytes: 64 * 1024 * 1024,
        bodyTimeoutSeconds: 10,
        shutdownGraceSeconds: 10,
      },
      storage: { url: 'sqlite:./mcp-session-probe.db' },
      admin: { token: undefined },
      tracker: { maxSessions: 100_000, evictIdleAfterSeconds: 86_400 },
      telemetry: { injectMeta: false },
      analysis: { turnGapSeconds: 120 },
    });
  });

  it('defaultConfig() is the same defaults with no upstreams', () => {
    const { upstreams, ...rest } = parseConfig({ upstreams: [upstream()] }, { env: {} });
    expect(upstreams).toHaveLength(1);
    expect(defaultConfig()).toEqual({ upstreams: [], ...rest });
  });

  it('fills fields inside a partly given section', () => {
    const config = parseConfig({ upstreams: [upstream()], server: { port: 0 } }, { env: {} });
    expect(config.server).toEqual({
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: 10_485_760,
      maxBufferedBodyBytes: 67_108_864,
      bodyTimeoutSeconds: 10,
      shutdownGraceSeconds: 10,
    });
  });

  it('accepts http as an alias of streamable-http, and auto', () => {
    const config = parseConfig(
      { upstreams: [upstream({ transport: 'http' }), upstream({ id: 'b', transport: 'auto' })] },
      { env: {} },
    );
    expect(config.upstreams.map((u) => u.transport)).toEqual(['streamable-http', 'auto']);
  });

  it('defaults probe.mode to fanout (as the CLI and API do) and leaves intervals to the prober', () => {
    const config = parseConfig({ upstreams: [upstream({ probe: { every: '6h' } })] }, { env: {} });
    expect(config.upstreams[0]?.probe).toEqual({ everyMs: 21_600_000, mode: 'fanout' });
  });
});

describe('interpolation', () => {
  const withHeader = (value: string) => ({ upstreams: [upstream({ headers: { Authorization: value } })] });
  const header = (value: string, env: Record<string, string>) =>
    parseConfig(withHeader(value), { env }).upstreams[0]?.headers['Authorization'];

  it('replaces ${VAR} anywhere in a string, several times', () => {
    expect(header('${SCHEME} ${TOKEN}', { SCHEME: 'Bearer', TOKEN: 't' })).toBe('Bearer t');
  });

  it('uses ${VAR:-default} when the variable is unset or empty', () => {
    expect(header('Bearer ${TOKEN:-anon}', {})).toBe('Bearer anon');
    expect(header('Bearer ${TOKEN:-anon}', { TOKEN: '' })).toBe('Bearer anon');
    expect(header('Bearer ${TOKEN:-anon}', { TOKEN: 'set' })).toBe('Bearer set');
    expect(header('x${EMPTY:-}y', {})).toBe('xy');
  });

  it('keeps a set-but-empty variable, and $${ as a literal ${', () => {
    expect(header('Bearer ${TOKEN}', { TOKEN: '' })).toBe('Bearer ');
    expect(header('$${TOKEN}', { TOKEN: 'x' })).toBe('${TOKEN}');
  });

  it('interpolates in every string: urls, ids, nested sections', () => {
    const config = parseConfig(
      {
        upstreams: [{ id: '${ID}', url: 'https://${HOST}/mcp', probe: { every: '${EVERY}' } }],
        storage: { url: 'sqlite:${DATA}/probe.db' },
      },
      { env: { ID: 'linear', HOST: 'mcp.linear.app', EVERY: '90s', DATA: '/var/lib' } },
    );
    expect(config.upstreams[0]).toMatchObject({ id: 'linear', url: 'https://mcp.linear.app/mcp' });
    expect(config.upstreams[0]?.probe?.everyMs).toBe(90_000);
    expect(config.storage.url).toBe('sqlite:/var/lib/probe.db');
  });

  it('an empty admin token after interpolation means no token', () => {
    const document = { upstreams: [upstream()], admin: { token: '${MCP_PROBE_ADMIN_TOKEN:-}' } };
    expect(parseConfig(document, { env: {} }).admin.token).toBeUndefined();
    expect(parseConfig(document, { env: { MCP_PROBE_ADMIN_TOKEN: 's3cret' } }).admin.token).toBe('s3cret');
  });

  it('names the variable and the field path when a variable is missing', () => {
    expect(problem(withHeader('Bearer ${LINEAR_TOKEN}'))).toBe(
      'config: upstreams[0].headers.Authorization needs environment variable LINEAR_TOKEN, which is not set; set it or write ${LINEAR_TOKEN:-default}',
    );
  });

  it('reports every missing variable at once, with bracketed paths for odd keys', () => {
    const document = {
      upstreams: [upstream({ headers: { 'X-Api-Key': '${A}' } })],
      admin: { token: '${B}' },
    };
    expect(problem(document)).toBe(
      [
        'config: upstreams[0].headers["X-Api-Key"] needs environment variable A, which is not set; set it or write ${A:-default}',
        'config: admin.token needs environment variable B, which is not set; set it or write ${B:-default}',
      ].join('\n'),
    );
  });

  it('rejects a reference that is not a variable name', () => {
    expect(problem(withHeader('Bearer ${linear token}'))).toBe(
      'config: upstreams[0].headers.Authorization has ${linear token}, which is not a variable reference; write ${NAME}, ${NAME:-default} or $${ for a literal',
    );
  });
});

describe('validation messages', () => {
  it('url must be http or https', () => {
    const document = {
      upstreams: [upstream({ id: 'a' }), upstream({ id: 'b' }), upstream({ id: 'c', url: 'ftp://x' })],
    };
    expect(problem(document)).toBe('config: upstreams[2].url "ftp://x" must be http or https');
    expect(problem({ upstreams: [upstream({ url: 'mcp.linear.app' })] })).toBe(
      'config: upstreams[0].url "mcp.linear.app" must be an absolute http or https URL',
    );
  });

  it('id must match the pattern', () => {
    expect(problem({ upstreams: [upstream({ id: 'Linear' })] })).toBe(
      'config: upstreams[0].id "Linear" must match [a-z0-9][a-z0-9_-]{0,63}',
    );
    expect(problem({ upstreams: [upstream({ id: 'x'.repeat(65) })] })).toBe(
      `config: upstreams[0].id "${'x'.repeat(65)}" must match [a-z0-9][a-z0-9_-]{0,63}`,
    );
  });

  it('duplicate ids are rejected', () => {
    expect(problem({ upstreams: [upstream(), upstream({ url: 'https://other' })] })).toBe(
      'config: upstreams[1].id "linear" is already used by upstreams[0]; give each upstream its own id',
    );
  });

  it('missing and mistyped fields', () => {
    expect(problem({})).toBe('config: upstreams is required');
    expect(problem({ upstreams: [] })).toBe(
      'config: upstreams [] must list at least one upstream (run without --config to start the demo)',
    );
    expect(problem({ upstreams: { id: 'x' } })).toBe('config: upstreams {…} must be a list');
    expect(problem({ upstreams: [{ url: 'https://x' }] })).toBe('config: upstreams[0].id is required');
    expect(problem({ upstreams: [upstream()], server: { port: '8080' } })).toBe(
      'config: server.port "8080" must be a number',
    );
    expect(problem({ upstreams: [upstream()], telemetry: { injectMeta: 'yes' } })).toBe(
      'config: telemetry.injectMeta "yes" must be true or false',
    );
    expect(problem({ upstreams: [upstream()], storage: { retentionDays: 0 } })).toBe(
      'config: storage.retentionDays 0 must be a positive number of days',
    );
    expect(problem(['x'])).toBe('config: the file must hold an object with an "upstreams" list, not […]');
  });

  it('unknown fields suggest the near miss or list the known ones', () => {
    expect(problem({ upstreams: [upstream({ timeoutSecond: 5 })] })).toBe(
      'config: upstreams[0].timeoutSecond is not a known field; did you mean timeoutSeconds?',
    );
    expect(problem({ upstreams: [upstream()], sever: {} })).toBe(
      'config: sever is not a known field; did you mean server?',
    );
    expect(problem({ upstreams: [upstream()], storage: { path: 'x.db' } })).toBe(
      'config: storage.path is not a known field; known fields: url, retentionDays',
    );
  });

  it('transport, probe and numeric ranges', () => {
    expect(problem({ upstreams: [upstream({ transport: 'websocket' })] })).toBe(
      'config: upstreams[0].transport "websocket" must be streamable-http, sse or auto',
    );
    expect(problem({ upstreams: [upstream({ probe: { every: '6 hours' } })] })).toBe(
      'config: upstreams[0].probe.every "6 hours" must be a duration like "90s", "30m" or "6h"',
    );
    expect(problem({ upstreams: [upstream({ probe: { every: '1h', mode: 'random' } })] })).toBe(
      'config: upstreams[0].probe.mode "random" must be one of search, ladder, fanout, bisect',
    );
    expect(problem({ upstreams: [upstream({ probe: { every: '1h', intervals: [5, -1] } })] })).toBe(
      'config: upstreams[0].probe.intervals[1] -1 must be a positive number of seconds',
    );
    expect(problem({ upstreams: [upstream({ timeoutSeconds: 0 })] })).toBe(
      'config: upstreams[0].timeoutSeconds 0 must be a positive number of seconds',
    );
    expect(problem({ upstreams: [upstream()], server: { port: 70000 } })).toBe(
      'config: server.port 70000 must be an integer from 0 to 65535',
    );
    expect(problem({ upstreams: [upstream()], storage: { url: 'mysql://db' } })).toBe(
      'config: storage.url "mysql://db" must be sqlite:PATH or postgres://...',
    );
  });

  it('headers: names must be tokens, values strings without line breaks, and values are never echoed', () => {
    expect(problem({ upstreams: [upstream({ headers: { 'Bad Header': 'x' } })] })).toBe(
      'config: upstreams[0].headers["Bad Header"] is not a valid HTTP header name',
    );
    expect(
      problem({ upstreams: [upstream({ headers: { Authorization: 'Bearer abc\r\nX-Evil: 1' } })] }),
    ).toBe('config: upstreams[0].headers.Authorization "[REDACTED]" must not contain line breaks');
    expect(problem({ upstreams: [upstream({ headers: { 'X-Tenant': 42 } })] })).toBe(
      'config: upstreams[0].headers["X-Tenant"] 42 must be a string (quote it in YAML)',
    );
  });

  it('lists several problems, one per line', () => {
    const message = problem({ upstreams: [upstream({ id: 'A', url: 'ftp://x' })] });
    expect(message.split('\n')).toEqual([
      'config: upstreams[0].id "A" must match [a-z0-9][a-z0-9_-]{0,63}',
      'config: upstreams[0].url "ftp://x" must be http or https',
    ]);
  });
});

describe('parseConfigText', () => {
  it('tries JSON then YAML without a format', () => {
    expect(parseConfigText('{"upstreams":[{"id":"a","url":"http://x"}]}', { env: {} }).upstreams[0]?.id).toBe(
      'a',
    );
    expect(parseConfigText('upstreams: [{id: a, url: "http://x"}]', { env: {} }).upstreams[0]?.id).toBe('a');
  });
});

describe('parseDuration', () => {
  it.each([
    ['90s', 90_000],
    ['30m', 1_800_000],
    ['6h', 21_600_000],
    ['1d', 86_400_000],
    ['250ms', 250],
    ['1h30m', 5_400_000],
    ['1.5s', 1_500],
    ['45', 45_000],
    [45, 45_000],
  ] as const)('%s → %d ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '6 hours', 'h', '-5s', '5x', '1h 30m'])('%j is not a duration', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe('applyCliOverrides', () => {
  const base = () => parseConfig({ upstreams: [upstream()] }, { env: {} });

  it('overrides port, host and db without touching the original', () => {
    const config = base();
    const next = applyCliOverrides(config, { port: '9000', host: '0.0.0.0', db: './data/x.db' });
    expect(next.server).toMatchObject({ port: 9000, host: '0.0.0.0' });
    expect(next.storage.url).toBe('sqlite:./data/x.db');
    expect(config.server.port).toBe(8787);
    expect(config.storage.url).toBe('sqlite:./mcp-session-probe.db');
  });

  it('keeps full storage URLs as given', () => {
    expect(applyCliOverrides(base(), { db: 'postgres://u@db/probe' }).storage.url).toBe(
      'postgres://u@db/probe',
    );
    expect(applyCliOverrides(base(), { db: 'sqlite::memory:' }).storage.url).toBe('sqlite::memory:');
  });

  it('leaves unset flags alone', () => {
    expect(applyCliOverrides(base(), {})).toEqual(base());
  });

  it('rejects bad flags with ConfigError', () => {
    expect(() => applyCliOverrides(base(), { port: 'abc' })).toThrow(
      new ConfigError('config: --port "abc" must be an integer from 0 to 65535'),
    );
    expect(() => applyCliOverrides(base(), { port: 70000 })).toThrow(
      'config: --port "70000" must be an integer from 0 to 65535',
    );
    expect(() => applyCliOverrides(base(), { host: '' })).toThrow('config: --host "" must not be empty');
    expect(() => applyCliOverrides(base(), { db: '' })).toThrow(ConfigError);
  });
});

describe('examples/', () => {
  it.each(['config.example.yaml', 'config.example.json'])('%s loads with its variables set', async (name) => {
    const path = join(import.meta.dirname, '..', '..', 'examples', name);
    const config = await loadConfig({ path, env: { LINEAR_TOKEN: 'l', ATLASSIAN_TOKEN: 'a' } });
    expect(config?.upstreams.map((u) => [u.id, u.transport, u.probe?.everyMs])).toEqual([
      ['linear', 'streamable-http', 21_600_000],
      ['atlassian', 'sse', 43_200_000],
    ]);
    expect(config?.upstreams[0]?.headers['Authorization']).toBe('Bearer l');
    expect(config?.admin.token).toBeUndefined();
  });
});
