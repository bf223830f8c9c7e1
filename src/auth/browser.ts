// Opening the authorization URL: the command in `$BROWSER` (the common convention: the URL
// is its last argument), else the platform's opener. The URL is always printed as well, so a
// user on a machine without a browser can open it elsewhere.
import { spawn } from 'node:child_process';

export type BrowserOpener = (url: string) => Promise<void>;

/** The command line that opens `url` here: `$BROWSER url`, else open / xdg-open / start. */
export function browserCommand(
  url: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
  platform: NodeJS.Platform = process.platform,
): { command: string; args: string[]; shell: boolean } {
  const browser = env.BROWSER?.trim();
  // `$BROWSER` may hold flags ("curl -sfL -o /dev/null"); split on spaces as shells do for it.
  if (browser) {
    const [command, ...args] = browser.split(/\s+/);
    return { command: command!, args: [...args, url], shell: false };
  }
  if (platform === 'darwin') return { command: 'open', args: [url], shell: false };
  if (platform === 'win32')
    return { command: 'cmd', args: ['/c', 'start', '""', url.replace(/&/g, '^&')], shell: false };
  return { command: 'xdg-open', args: [url], shell: false };
}

/** Starts the browser and does not wait for it; a missing opener is not an error (the URL was printed). */
export function openBrowser(url: string, onError: (message: string) => void): Promise<void> {
  const { command, args } = browserCommand(url);
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: 'ignore', detached: false });
    child.once('error', (err) => {
      onError(`could not start "${command}" (${(err as Error).message}); open the URL yourself`);
      resolve();
    });
    child.once('spawn', () => resolve());
    child.once('exit', (code) => {
      if (code !== 0 && code !== null) onError(`"${command}" exited with ${code}`);
    });
  });
}
