#!/usr/bin/env node
// Runs every test file under test/ with Node's test runner (Node 20 does not expand globs itself).
// Usage: node scripts/run-tests.mjs [path-prefix ...]   e.g. `npm run test:unit -- test/core`
// It first brings dist/ up to date (scripts/build.mjs), because the CLI tests spawn bin/marshal.js,
// which runs dist/. MARSHAL_SKIP_BUILD=1 skips that step when you know dist/ is current.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function collect(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    if (name === 'fixtures' || name === 'node_modules') continue;
    if (statSync(full).isDirectory()) out.push(...collect(full));
    else if (/\.test\.(ts|mjs|js)$/.test(name)) out.push(relative(root, full));
  }
  return out;
}

// The slowest files, slowest first (measured, `npm test` on 2 cores, 2026-12). The runner starts
// files in the order given, so with N files at a time the long ones start at once instead of last
// (one 60 s file started last makes the whole run 60 s longer than it needs to be). The rest keep
// their alphabetical order. A file missing here only runs later; a name that no longer exists is
// ignored.
const SLOWEST_FIRST = [
  'test/training/multihost/train-multihost.test.ts',
  'test/training/checkpoint-resume.test.ts',
  'test/training/train-cli.test.ts',
  'test/supervisor/chaos.test.ts',
  'test/agents/local-provider.test.ts',
  'test/training/byzantine-run.test.ts',
  'test/training/stall.test.ts',
  'test/supervisor/cli.test.ts',
  'test/supervisor/switch.test.ts',
  'test/cli/heavy-gc.test.ts',
  'test/supervisor/supervisor.test.ts',
  'test/supervisor/detach.test.ts',
  'test/core/lock-file.test.ts',
  'test/supervisor/lazy.test.ts',
  'test/cli/heavy.test.ts',
  'test/supervisor/redaction.test.ts',
  'test/agents/run-heavy-gc.test.ts',
  'test/pack.test.ts',
  'test/core/atomic-file.test.ts',
  'test/supervisor/readiness.test.ts',
  'test/supervisor/supervisor-process.test.ts',
  'test/training/gc-bounds.test.ts',
];
const rank = (f) => {
  const i = SLOWEST_FIRST.indexOf(f);
  return i === -1 ? SLOWEST_FIRST.length : i;
};

const prefixes = process.argv.slice(2);
const files = collect(join(root, 'test'))
  .filter((f) => prefixes.length === 0 || prefixes.some((p) => f.startsWith(p.replace(/^\.\//, ''))))
  .sort((a, b) => rank(a) - rank(b));
if (files.length === 0) {
  console.error(`run-tests: no test files match ${prefixes.join(' ') || 'test/'}`);
  process.exit(2);
}
if (process.env.MARSHAL_SKIP_BUILD !== '1') {
  // Type errors do not stop the tests (they run the sources through tsx); `npm test` typechecks first.
  const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--allow-type-errors'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (build.status !== 0) {
    console.error('run-tests: the build failed; no tests ran');
    process.exit(build.status ?? 1);
  }
}
const concurrency = process.env.MARSHAL_TEST_CONCURRENCY ?? '2';
const child = spawn(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit' },
);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
