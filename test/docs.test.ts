// The docs as a user meets them: a manual of bounded length, every decision record indexed,
// and nothing in the repository that only makes sense to the people who wrote it (where
// they worked from, which round of work something came from, issue numbers in code).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** Every file below `dir` (relative to the root), for a copy without git. */
function walk(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)],
  );
}

/** Tracked text files (and new ones not yet committed), this file excepted. */
function repositoryFiles(): string[] {
  let listed: string[];
  try {
    listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], {
      cwd: ROOT,
      encoding: 'utf8',
    }).split('\n');
  } catch {
    // An unpacked archive: the project's own folders and top-level files.
    const top = readdirSync(ROOT, { withFileTypes: true });
    listed = [
      ...top.filter((e) => e.isFile()).map((e) => e.name),
      ...['src', 'test', 'docs', 'bench', 'scripts', 'examples', '.ci'].flatMap((d) => {
        try {
          return walk(d);
        } catch {
          return [];
        }
      }),
    ];
  }
  return listed
    .filter(Boolean)
    .filter((f) => f !== 'test/docs.test.ts' && f !== 'package-lock.json')
    .filter((f) => /\.(ts|tsx|mts|mjs|js|json|md|yaml|yml|sh|toml)$|Dockerfile$|\/run$/.test(f));
}

function matchesIn(files: string[], pattern: RegExp): string[] {
  return files.flatMap((file) => {
    let text: string;
    try {
      text = read(file);
    } catch {
      return []; // listed but deleted in the working tree
    }
    return text
      .split('\n')
      .flatMap((line, i) => (pattern.test(line) ? [`${file}:${i + 1}: ${line.trim().slice(0, 120)}`] : []));
  });
}

describe('the docs', () => {
  it('the README stays a manual of at most about 3,000 words; bench/README.md under 300 lines', () => {
    expect(read('README.md').split(/\s+/).filter(Boolean).length).toBeLessThanOrEqual(3000);
    expect(read('bench/README.md').split('\n').length).toBeLessThan(300);
  });

  it('the decision index lists every record in docs/decisions', () => {
    const index = read('docs/decisions/README.md');
    const records = readdirSync(join(ROOT, 'docs/decisions')).filter((f) => /^\d{4}-.+\.md$/.test(f));
    expect(records.length).toBeGreaterThan(20);
    const missing = records.filter((f) => !index.includes(`](${f})`));
    expect(
      missing,
      'add a row "| [NNNN](NNNN-title.md) | decision | status |" to docs/decisions/README.md',
    ).toEqual([]);
  });

  it('nothing points outside the repository, talks about rounds of work, or cites issues from code', () => {
    const files = repositoryFiles();
    expect(files.length).toBeGreaterThan(100);
    const outside = new RegExp(['\\.\\./', 'shared'].join(''));
    expect(matchesIn(files, outside)).toEqual([]);
    const ordinals =
      'fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|twenty-\\w+|thirtieth';
    const rounds = new RegExp(
      `\\b(${ordinals}) session\\b|\\bwork(ing)? session\\b|\\b(this|last|previous) session'?s? (runs?|numbers|measurements|benchmark|work)\\b`,
      'i',
    );
    expect(matchesIn(files, rounds)).toEqual([]);
    const code = files.filter((f) => /^(src|test|bench|scripts)\//.test(f));
    expect(matchesIn(code, /\bissue #?\d+/i)).toEqual([]);
  });
});
