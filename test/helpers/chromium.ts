// Debian's Chromium for the browser tests (never a downloaded browser). `npm test` installs it
// first when it can (scripts/setup.mjs); where it cannot, the browser tests skip with the same
// instructions, unless MCP_PROBE_REQUIRE_BROWSER=1 (CI) makes its absence a failure.
import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export const chromiumMissing = existsSync(CHROMIUM)
  ? null
  : `${CHROMIUM} not found. Install Debian's Chromium with "sudo apt-get install chromium" ` +
    '(running "npm test" as root on Debian installs it for you).';

export const browserRequired = process.env['MCP_PROBE_REQUIRE_BROWSER'] === '1';

if (chromiumMissing && !browserRequired) process.stderr.write(`browser tests skipped: ${chromiumMissing}\n`);

/** Whether to skip the browser tests: Chromium absent and not required. */
export const skipBrowser = chromiumMissing !== null && !browserRequired;

export async function launchChromium(): Promise<Browser> {
  if (chromiumMissing) throw new Error(chromiumMissing);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
