import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, unknown>;
};

// The subpath exports point at the compiled dist/ that `npm ci` builds through `prepare`.
// Build it here when missing or older than the sources, so the test checks the current code.
function newestSource(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) =>
      e.isDirectory() ? newestSource(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs,
    ),
  );
}
function builtAt(): number {
  try {
    return statSync(join(root, 'dist', 'index.js')).mtimeMs;
  } catch {
    return 0;
  }
}
before(() => {
  if (builtAt() >= newestSource(join(root, 'src'))) return;
  const r = spawnSync(
    process.execPath,
    [`${root}node_modules/typescript/bin/tsc`, '-p', 'tsconfig.build.json'],
    {
      cwd: root,
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, `build failed:\n${r.stdout}${r.stderr}`);
});

/** Imports a subpath of this package by name (package self-reference), as a user would. */
async function load(subpath: string): Promise<Record<string, unknown>> {
  const specifier = subpath === '.' ? 'marshal' : `marshal/${subpath.slice(2)}`;
  return (await import(specifier)) as Record<string, unknown>;
}

const expected: Record<string, string[]> = {
  '.': [
    'main',
    'VERSION',
    'MarshalError',
    'loadConfigFile',
    'writeJsonAtomic',
    'acquireLock',
    'spawnProcess',
    'waitHealthy',
  ],
  './agents': ['runHeavy', 'runAgent', 'createOpenAICompatibleModel', 'ToolRegistry', 'createBuiltinTools'],
  './testing': ['startFakeOpenAIServer', 'createScriptedModel'],
  './supervisor': ['startSupervisor', 'findWorkspace', 'loadEnvironment', 'transition'],
  './training': ['shard', 'chunk', 'aggregate', 'buildPlan', 'preflight'],
};

describe('package exports', () => {
  it('declares exactly the documented subpaths', () => {
    assert.deepEqual(
      Object.keys(pkg.exports)
        .filter((k) => k !== './package.json')
        .sort(),
      Object.keys(expected).sort(),
    );
  });

  for (const [subpath, names] of Object.entries(expected)) {
    it(`${subpath} loads from dist and exports its API`, async () => {
      const mod = await load(subpath);
      for (const name of names) assert.ok(name in mod, `${subpath} lacks ${name}`);
    });
  }
});
