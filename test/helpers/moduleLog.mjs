// `node --import ./moduleLog.mjs`: appends the URL of every module the process loads to the file
// named by MODULE_LOG. ES modules through a resolve hook (hooks run off the main thread, so a
// file is the simple channel); CommonJS modules (required, or imported from ES modules) where
// the CommonJS loader loads each file.
import { appendFileSync } from 'node:fs';
import Module, { register } from 'node:module';
import { pathToFileURL } from 'node:url';

const file = process.env.MODULE_LOG;
if (file) {
  register('./moduleLogHooks.mjs', import.meta.url, { data: { file } });
  const load = Module.prototype.load;
  Module.prototype.load = function (filename) {
    appendFileSync(file, `${pathToFileURL(filename).href}\n`);
    return load.call(this, filename);
  };
}
