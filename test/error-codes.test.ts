import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { errorCodeTable } from '../src/core/errors.ts';

// Load every module that registers error codes.
function sources(dir: URL): URL[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(new URL(`${e.name}/`, dir))
      : e.name.endsWith('.ts')
        ? [new URL(e.name, dir)]
        : [],
  );
}
for (const file of sources(new URL('../src/', import.meta.url))) {
  if (readFileSync(file, 'utf8').includes('registerErrorCodes(')) await import(file.href);
}

const doc = readFileSync(new URL('../ARCHITECTURE.md', import.meta.url), 'utf8');
const section = doc.slice(doc.indexOf('## Error codes'));
const documented = new Map<string, number>();
for (const m of section.matchAll(/^\| (E_[A-Z0-9_]+) \| (\d+) \|/gm)) documented.set(m[1]!, Number(m[2]));

describe('error codes', () => {
  it('ARCHITECTURE.md documents every registered code with its exit code', () => {
    for (const [code, { exit }] of errorCodeTable()) {
      assert.equal(documented.get(code), exit, `${code} (exit ${exit}) missing or wrong in ARCHITECTURE.md`);
    }
  });

  it('ARCHITECTURE.md documents no code that does not exist', () => {
    const table = errorCodeTable();
    for (const code of documented.keys())
      assert.ok(table.has(code), `${code} is documented but not registered`);
  });
});
