#!/usr/bin/env node
// Runs the built CLI when present (`npm run build`; the published package always has it),
// else the TypeScript sources through tsx (a development checkout). tsx is told which
// tsconfig to use, so running from any folder behaves the same as from the repository.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const built = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (existsSync(built)) {
  await import(pathToFileURL(built).href);
} else {
  const tsconfig = fileURLToPath(new URL('../tsconfig.json', import.meta.url));
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: existsSync(tsconfig) ? tsconfig : false });
  await import(new URL('../src/cli.ts', import.meta.url).href);
}
