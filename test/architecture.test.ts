import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const SUBSYSTEMS = ['agents', 'supervisor', 'training'];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? files(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function areaOf(file: string): string {
  const rel = relative(src, file);
  return rel.includes('/') ? rel.split('/')[0]! : '(root)';
}

/** Relative import targets of a file, resolved to the src area they land in. */
function importedAreas(file: string): Array<{ spec: string; area: string }> {
  const text = readFileSync(file, 'utf8');
  const out: Array<{ spec: string; area: string }> = [];
  for (const m of text.matchAll(
    /(?:import|export)[^'"]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g,
  )) {
    const spec = (m[1] ?? m[2])!;
    const target = resolve(dirname(file), spec);
    if (!target.startsWith(src)) continue;
    out.push({ spec, area: areaOf(target) });
  }
  return out;
}

describe('dependency rule (ARCHITECTURE.md)', () => {
  it('core imports no subsystem, cli or testing code', () => {
    for (const f of files(join(src, 'core'))) {
      for (const { spec, area } of importedAreas(f)) {
        assert.equal(area, 'core', `${relative(root, f)} imports ${spec} (${area})`);
      }
    }
  });

  it('subsystems never import each other or the cli', () => {
    for (const sub of SUBSYSTEMS) {
      let dirFiles: string[] = [];
      try {
        dirFiles = files(join(src, sub));
      } catch {
        continue;
      }
      for (const f of dirFiles) {
        for (const { spec, area } of importedAreas(f)) {
          assert.ok(area === 'core' || area === sub, `${relative(root, f)} imports ${spec} (${area})`);
        }
      }
    }
  });

  it('only bin/marshal.js touches process.exit', () => {
    for (const f of files(src)) {
      const text = readFileSync(f, 'utf8');
      assert.ok(!/process\.exit\(/.test(text), `${relative(root, f)} calls process.exit`);
    }
  });

  it('no source file spawns through a shell', () => {
    for (const f of files(src)) {
      const text = readFileSync(f, 'utf8');
      assert.ok(!/shell:\s*true/.test(text), `${relative(root, f)} uses shell: true`);
      assert.ok(!/\bexecSync\(|\bexec\(\s*['"`]/.test(text), `${relative(root, f)} uses exec`);
    }
  });
});
