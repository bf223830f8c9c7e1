// The conformance suite's client under test: `conformance client --command "node --import tsx
// test/conformance/adapter.ts"` appends the server URL and names the scenario in
// $MCP_CONFORMANCE_SCENARIO (credentials for the pre-registered and client-credentials scenarios
// in $MCP_CONFORMANCE_CONTEXT). It does what a user does, through the CLI's own commands (in one
// process, to keep the suite quick): `login --url URL` with curl as the "browser" (the suite's
// authorization server approves at once and redirects to our loopback listener), then
// `probe --url URL`; clients the suite pre-registers go through a config file, as a user would
// write one.
//
// The suite also checks a client that acts: `auth/scope-step-up` refuses only `tools/call`
// (403 insufficient_scope) and expects a second authorization with the wider scope. The prober
// never acts (src/probe/readOnly.ts), so after the probe the adapter plays the agent itself: it
// calls the first listed tool through the project's login code (src/auth/login.ts, continuing
// the stored login), which steps up in the browser as it would for a probe's own requests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { login } from '../../src/auth/login.js';
import { canonicalServerUrl, TokenStore } from '../../src/auth/tokenStore.js';
import { loginCommand } from '../../src/commands/auth.js';
import { probeCommand } from '../../src/commands/probe.js';

const url = process.argv.at(-1)!;
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const context = JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT ?? '{}') as Record<string, string>;
const home = mkdtempSync(join(tmpdir(), 'mcp-probe-conformance-'));
process.env.MCP_PROBE_HOME = home;
process.env.BROWSER = 'curl -sfL -o /dev/null';
// This client's metadata document URL: used only when the server advertises CIMD support.
const CLIENT_METADATA_URL = 'https://conformance-test.local/client-metadata.json';
const io = { stdout: (t: string) => process.stdout.write(t), stderr: (t: string) => process.stderr.write(t) };

async function run(command: typeof loginCommand, args: string[]): Promise<void> {
  const code = await command(args, io);
  if (code !== 0) throw Object.assign(new Error(`${args.join(' ')} exited with ${code}`), { code });
}

const probeArgs = [
  ...['--intervals', '0.2', '--timeout', '10'],
  ...['--db', join(home, 'probe.db'), '--output', join(home, 'result.json')],
];
function writeConfig(auth: Record<string, unknown>): string {
  const config = join(home, 'config.json');
  writeFileSync(config, JSON.stringify({ upstreams: [{ id: 'conformance', url, auth }] }), { mode: 0o600 });
  return config;
}

/** An agent's turn after the probe: the first tool called with the stored login, stepping up if refused for scope. */
async function act(): Promise<void> {
  const store = new TokenStore(home);
  const serverUrl = canonicalServerUrl(url);
  const stored = await store.find(serverUrl);
  if (!stored) throw new Error('no stored login to act with');
  await login({
    store,
    serverUrl,
    upstream: stored.grant.upstream,
    grant: stored.grant,
    clientMetadataUrl: CLIENT_METADATA_URL,
    say: (line) => process.stderr.write(`${line}\n`),
    timeoutMs: 20_000,
    loginCommand: `mcp-session-probe login --url ${serverUrl}`,
    use: async (client) => {
      const [tool] = (await client.listTools()).tools;
      if (tool) await client.callTool({ name: tool.name, arguments: {} });
    },
  });
}

let exitCode = 0;
try {
  if (scenario.includes('client-credentials')) {
    const config = writeConfig(
      context.private_key_pem
        ? {
            type: 'client_credentials',
            clientId: context.client_id,
            privateKey: context.private_key_pem,
            algorithm: context.signing_algorithm,
          }
        : { type: 'client_credentials', clientId: context.client_id, clientSecret: context.client_secret },
    );
    await run(probeCommand, ['--config', config, ...probeArgs]);
  } else if (context.client_id) {
    const config = writeConfig({
      type: 'oauth',
      clientId: context.client_id,
      clientSecret: context.client_secret,
    });
    await run(loginCommand, ['conformance', '--config', config, '--timeout', '20']);
    await run(probeCommand, ['--config', config, ...probeArgs]);
    await act();
  } else {
    await run(loginCommand, ['--url', url, '--client-metadata-url', CLIENT_METADATA_URL, '--timeout', '20']);
    await run(probeCommand, ['--url', url, ...probeArgs]);
    await act();
  }
} catch (err) {
  process.stderr.write(`adapter: ${(err as Error).message}\n`);
  exitCode = 1;
} finally {
  rmSync(home, { recursive: true, force: true });
}
process.exit(exitCode);
