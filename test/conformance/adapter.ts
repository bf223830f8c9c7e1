// The conformance suite's client under test: `conformance client --command "node --import tsx
// test/conformance/adapter.ts"` appends the server URL and names the scenario in
// $MCP_CONFORMANCE_SCENARIO (credentials for the pre-registered and client-credentials scenarios
// in $MCP_CONFORMANCE_CONTEXT). It does what a user does, through the CLI's own commands (in one
// process, to keep the suite quick): `login --url URL` with curl as the "browser" (the suite's
// authorization server approves at once and redirects to our loopback listener), then
// `probe --url URL`; clients the suite pre-registers go through a config file, as a user would
// write one.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  } else {
    await run(loginCommand, ['--url', url, '--client-metadata-url', CLIENT_METADATA_URL, '--timeout', '20']);
    await run(probeCommand, ['--url', url, ...probeArgs]);
  }
} catch (err) {
  process.stderr.write(`adapter: ${(err as Error).message}\n`);
  exitCode = 1;
} finally {
  rmSync(home, { recursive: true, force: true });
}
process.exit(exitCode);
