import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { AGENT_ERRORS } from '../src/agents/index.ts';
import { CORE_ERRORS, type ErrorSpec } from '../src/core/index.ts';
import { SUPERVISOR_ERRORS } from '../src/supervisor/index.ts';
import { TRAINING_ERRORS } from '../src/training/index.ts';

// Every subsystem's typed table, as its public API exports it.
const TABLES: Record<string, Readonly<Record<string, ErrorSpec>>> = {
  CORE_ERRORS,
  AGENT_ERRORS,
  SUPERVISOR_ERRORS,
  TRAINING_ERRORS,
};
const all = new Map<string, ErrorSpec>();
for (const table of Object.values(TABLES)) {
  for (const spec of Object.values(table)) {
    assert.ok(!all.has(spec.code), `${spec.code} is defined in two tables`);
    all.set(spec.code, spec);
  }
}

function sources(dir: URL): URL[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sources(new URL(`${e.name}/`, dir))
      : e.name.endsWith('.ts')
        ? [new URL(e.name, dir)]
        : [],
  );
}
const code = sources(new URL('../src/', import.meta.url))
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

const doc = readFileSync(new URL('../ARCHITECTURE.md', import.meta.url), 'utf8');
const section = doc.slice(doc.indexOf('## Error codes'));
const documented = new Map<string, number>();
for (const m of section.matchAll(/^\| (E_[A-Z0-9_]+) \| (\d+) \|/gm)) documented.set(m[1]!, Number(m[2]));

describe('error codes', () => {
  it('ARCHITECTURE.md documents every code of every table with its exit code', () => {
    for (const [c, { exit }] of all) {
      assert.equal(documented.get(c), exit, `${c} (exit ${exit}) missing or wrong in ARCHITECTURE.md`);
    }
  });

  it('ARCHITECTURE.md documents no code that does not exist', () => {
    for (const c of documented.keys()) assert.ok(all.has(c), `${c} is documented but in no table`);
  });

  it('every code is raised somewhere in src/ (through its table entry)', () => {
    for (const [name, table] of Object.entries(TABLES)) {
      for (const c of Object.keys(table)) {
        assert.ok(code.includes(`${name}.${c}`), `${name}.${c} is defined but never raised`);
      }
    }
  });
});
