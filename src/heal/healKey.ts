import { probeHome } from '../auth/tokenStore.js';
import { loadKeyFile } from '../security/keyFile.js';

/**
 * The secret heal mode seals downstream session ids with. A configured key (`server.healKey`,
 * the same on every replica) wins; otherwise one is generated once and kept in
 * `<home>/heal.key` (0600 in a 0700 folder), so sealed ids survive a restart of this process.
 */
export function resolveHealKey(
  configured: string | undefined,
  home: string = probeHome(),
): Promise<string | Buffer> {
  if (configured !== undefined && configured.length > 0) return Promise.resolve(configured);
  return loadKeyFile(home, 'heal.key');
}
