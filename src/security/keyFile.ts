import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A 32-byte secret kept in `<home>/<name>` (0600 in a 0700 folder), created on first use.
 * Two processes starting together agree: the file is created exclusively and the loser reads
 * the winner's key (waiting for it to be written).
 */
export async function loadKeyFile(home: string, name: string): Promise<Buffer> {
  const file = join(home, name);
  try {
    const key = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
    if (key.length >= 32) return key;
  } catch {}
  await mkdir(home, { recursive: true, mode: 0o700 });
  await chmod(home, 0o700).catch(() => {});
  const key = randomBytes(32);
  try {
    await writeFile(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
    return key;
  } catch (err) {
    // Another process created it first: use theirs, so both hash alike.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    // It may not be written yet: read until it is.
    for (let i = 0; i < 50; i++) {
      const theirs = Buffer.from((await readFile(file, 'utf8')).trim(), 'base64');
      if (theirs.length >= 32) return theirs;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${file} holds no key; delete it`);
  }
}
