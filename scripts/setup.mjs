#!/usr/bin/env node
// Brings a machine up to what a command needs before it runs (`npm test` runs this as
// `pretest`). Each requirement says how to check it and which Debian packages provide it:
// as root with apt-get, missing ones are installed; otherwise the exact command is printed
// and the command goes on (the tests that need the part skip with the same message).
//
//   node scripts/setup.mjs test      the test suite's system parts
//   node scripts/setup.mjs --check   only report, install nothing
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';

/**
 * What each command needs from the system. To add a part, add an entry: `present()` must be
 * cheap and side-effect free; `debian` lists the apt packages that provide it.
 */
export const REQUIREMENTS = [
  {
    name: 'chromium',
    neededBy: ['test'],
    why: "the dashboard's browser test drives Debian's Chromium (never a downloaded browser)",
    present: () => existsSync('/usr/bin/chromium'),
    debian: ['chromium'],
  },
  {
    name: 'postgresql',
    neededBy: ['test'],
    why: 'the PostgreSQL store and replica tests start a throwaway server from its binaries (initdb, postgres)',
    present: () =>
      Boolean(process.env.MCP_PROBE_PG_BIN) ||
      (existsSync('/usr/lib/postgresql') &&
        readdirSync('/usr/lib/postgresql').some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))) ||
      commandExists('initdb'),
    debian: ['postgresql'],
  },
];

function commandExists(command) {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function canInstall() {
  return process.platform === 'linux' && process.getuid?.() === 0 && commandExists('apt-get');
}

function aptInstall(packages) {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  process.stderr.write(`setup: apt-get install ${packages.join(' ')} (as root; this takes a minute)\n`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
    stdio: 'inherit',
    env,
  });
}

export function missing(target) {
  return REQUIREMENTS.filter((r) => r.neededBy.includes(target) && !r.present());
}

export function howToInstall(requirements) {
  return `sudo apt-get install ${requirements.flatMap((r) => r.debian).join(' ')}`;
}

function main(argv) {
  const checkOnly = argv.includes('--check');
  const target = argv.find((a) => !a.startsWith('-')) ?? 'test';
  const absent = missing(target);
  if (absent.length === 0) return 0;
  if (!checkOnly && canInstall()) {
    try {
      aptInstall(absent.flatMap((r) => r.debian));
    } catch (err) {
      process.stderr.write(`setup: apt-get failed (${err.message}); continuing without it\n`);
    }
  }
  for (const r of missing(target)) {
    process.stderr.write(
      `setup: ${r.name} is missing: ${r.why}.\n` +
        `       Install it with: ${howToInstall([r])}   (the tests that need it are skipped until then)\n`,
    );
  }
  // Never fail the command here: what can run, runs; the skipped tests say why.
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
