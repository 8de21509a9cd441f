import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

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

/** Every relative import of a file, resolved to an absolute path (type-only imports included). */
function importTargets(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(
    /(?:^|\n)\s*(?:import|export)\s[^'";]*?from\s+['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"](\.[^'"]+)['"]/g,
  )) {
    out.push(resolve(dirname(file), (m[1] ?? m[2] ?? m[3])!));
  }
  return out;
}

/** Code without comments, so a rule is not tripped by a sentence that names a forbidden call. */
function codeOf(file: string): string {
  return readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

describe('dependency rule (ARCHITECTURE.md)', () => {
  it('the CLI sees core and each subsystem only through its index.ts', () => {
    const allowed = new Set(['core', ...SUBSYSTEMS].map((a) => join(src, a, 'index.ts')));
    const bad: string[] = [];
    for (const f of files(join(src, 'cli'))) {
      for (const target of importTargets(f)) {
        if (target.startsWith(join(src, 'cli')) || allowed.has(target)) continue;
        bad.push(`${relative(root, f)} imports ${relative(root, target)}`);
      }
    }
    assert.deepEqual(
      bad,
      [],
      `the CLI may import only src/{core,agents,supervisor,training}/index.ts:\n${bad.join('\n')}`,
    );
  });

  it('re-exports and export * appear only in index.ts files', () => {
    for (const f of files(src)) {
      if (f.endsWith('/index.ts')) continue;
      const text = codeOf(f);
      assert.ok(!/^\s*export\s+\*/m.test(text), `${relative(root, f)} has export *`);
      assert.ok(
        !/^\s*export\s+(type\s+)?\{[^}]*\}\s*from\s/m.test(text),
        `${relative(root, f)} re-exports from another module (only index.ts files may)`,
      );
    }
  });

  it('no side-effect-only imports', () => {
    for (const f of files(src)) {
      assert.ok(
        !/^\s*import\s+['"][^'"]+['"]/m.test(codeOf(f)),
        `${relative(root, f)} has a side-effect-only import`,
      );
    }
  });

  it('no import cycles in src/', () => {
    const graph = new Map<string, string[]>();
    for (const f of files(src))
      graph.set(
        f,
        importTargets(f).filter((t) => t.endsWith('.ts')),
      );
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const cycles: string[] = [];
    const visit = (f: string): void => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'visiting') {
        cycles.push(
          stack
            .slice(stack.indexOf(f))
            .concat(f)
            .map((x) => relative(src, x))
            .join(' -> '),
        );
        return;
      }
      state.set(f, 'visiting');
      stack.push(f);
      for (const t of graph.get(f) ?? []) visit(t);
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of graph.keys()) visit(f);
    assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
  });

  it('no AbortSignal.timeout( in src/ (it can be garbage-collected inside AbortSignal.any on Node 20)', () => {
    for (const f of files(src)) {
      assert.ok(
        !/AbortSignal\.timeout\(/.test(codeOf(f)),
        `${relative(root, f)} uses AbortSignal.timeout(): use deadline() from src/core/deadline.ts`,
      );
    }
  });

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

describe('exhaustive switches (house style rule 6)', () => {
  it('every switch over a union of literals ends in a default that calls assertNever', () => {
    // The compiler decides what is a union: a switch over `'a' | 'b'` (or a discriminant such as
    // `state.kind`) must end in `default: assertNever(x)`, so adding a member breaks the build
    // instead of falling through silently. Switches over open types (string, number) are free.
    const config = ts.getParsedCommandLineOfConfigFile(
      join(root, 'tsconfig.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: () => {},
      },
    );
    assert.ok(config, 'tsconfig.json parses');
    const program = ts.createProgram({ rootNames: files(src), options: config.options });
    const checker = program.getTypeChecker();
    const bad: string[] = [];
    const isLiteralUnion = (type: ts.Type): boolean => {
      const parts = type.isUnion() ? type.types : [type];
      return (
        parts.length > 1 &&
        parts.every(
          (t) => t.isLiteral() || (t.flags & (ts.TypeFlags.BooleanLiteral | ts.TypeFlags.EnumLiteral)) !== 0,
        )
      );
    };
    for (const sf of program.getSourceFiles()) {
      if (!sf.fileName.startsWith(src)) continue;
      const visit = (node: ts.Node): void => {
        if (ts.isSwitchStatement(node) && isLiteralUnion(checker.getTypeAtLocation(node.expression))) {
          const clauses = node.caseBlock.clauses;
          const last = clauses[clauses.length - 1];
          const ok =
            last !== undefined && ts.isDefaultClause(last) && /\bassertNever\(/.test(last.getText(sf));
          if (!ok) {
            const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
            bad.push(`${relative(root, sf.fileName)}:${line + 1}: switch (${node.expression.getText(sf)})`);
          }
        }
        ts.forEachChild(node, visit);
      };
      visit(sf);
    }
    assert.deepEqual(bad, [], `switches over unions without a final assertNever default:\n${bad.join('\n')}`);
  });
});
