// `node --import ./moduleLog.mjs`: appends the URL of every ES module the process resolves to
// the file named by MODULE_LOG (the hooks run off the main thread; a file is the simple channel).
import { register } from 'node:module';

if (process.env.MODULE_LOG) {
  register('./moduleLogHooks.mjs', import.meta.url, { data: { file: process.env.MODULE_LOG } });
}
