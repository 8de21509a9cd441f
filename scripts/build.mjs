#!/usr/bin/env node
// Compiles src/ into dist/ (tsc -p tsconfig.build.json) so that a process running from dist/
// during a build never reads a half-written file: tsc writes into a private directory under
// .tmp/ (same filesystem), then every changed file is renamed over its dist/ counterpart (an
// atomic replace) and files that no longer exist are removed. Once built, dist/ is never missing.
//
// A build whose inputs (src/, the tsconfig files, package.json, the TypeScript version) hash the
// same as the last one is skipped, and builds are serialised by a lock file, so concurrent test
// runs in one tree compile once.
//
// Usage: node scripts/build.mjs [--force] [--allow-type-errors]
//   --force              compile even when the inputs are unchanged
//   --allow-type-errors  still swap in what tsc emitted when it reports type errors (`prepare`
//                        and the test runner use this: tests run the sources through tsx
//                        regardless, and `npm run typecheck` reports the errors); without it
//                        (`npm run build`, `prepack`) a type error fails the build and dist/ is
//                        left as it was
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { filesUnder, swapIn } from './swap-in.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const work = join(root, '.tmp');
const stampFile = join(work, 'build-stamp.json');
const lockFile = join(work, 'build.lock');
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
const LOCK_WAIT_MS = 10 * 60_000;

const args = new Set(process.argv.slice(2));
for (const a of args) {
  if (a !== '--force' && a !== '--allow-type-errors') {
    console.error(`build: unknown option ${a} (expected --force, --allow-type-errors)`);
    process.exit(2);
  }
}
const force = args.has('--force');
const allowTypeErrors = args.has('--allow-type-errors');

/** SHA-256 over the names and contents of everything the compiled output depends on. */
function inputHash() {
  const h = createHash('sha256');
  const add = (rel) => {
    h.update(`${rel}\0`);
    h.update(readFileSync(join(root, rel)));
    h.update('\0');
  };
  for (const input of INPUTS) {
    if (input === 'src') for (const f of filesUnder(join(root, 'src'))) add(join('src', f));
    else add(input);
  }
  h.update(JSON.parse(readFileSync(join(root, 'node_modules/typescript/package.json'), 'utf8')).version);
  return h.digest('hex');
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(stampFile, 'utf8'));
  } catch {
    return null;
  }
}

function isFresh(hash) {
  const stamp = readStamp();
  return (
    stamp?.hash === hash &&
    (stamp.clean || allowTypeErrors) &&
    existsSync(join(dist, 'index.js')) &&
    existsSync(join(dist, 'cli', 'main.js'))
  );
}

function ownerAlive(owner) {
  if (owner?.host !== hostname() || !Number.isInteger(owner.pid)) return false;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** Takes the build lock (exclusive create), waiting while a live build holds it. */
async function lock() {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: hostname() }), { flag: 'wx' });
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    let owner = null;
    let unreadableFor = 0;
    try {
      owner = JSON.parse(readFileSync(lockFile, 'utf8'));
    } catch {
      // Being written or removed right now (look again shortly), or left empty by a crash.
      unreadableFor = Date.now() - (statSync(lockFile, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
    }
    if ((owner && !ownerAlive(owner)) || unreadableFor > 5_000) {
      rmSync(lockFile, { force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`build: ${lockFile} still held by ${JSON.stringify(owner)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Removes the private output directories of builds that were killed (their pid is gone). */
function removeAbandonedOutputs() {
  for (const name of readdirSync(work)) {
    const m = /^build-(\d+)-[0-9a-f]+$/.exec(name);
    if (m && !ownerAlive({ pid: Number(m[1]), host: hostname() })) {
      rmSync(join(work, name), { recursive: true, force: true });
    }
  }
}

mkdirSync(work, { recursive: true });
if (!force && isFresh(inputHash())) process.exit(0);
await lock();
let exitCode = 0;
try {
  removeAbandonedOutputs();
  // Another build may have finished while this one waited for the lock.
  const hash = inputHash();
  if (force || !isFresh(hash)) exitCode = compile(hash);
} finally {
  rmSync(lockFile, { force: true });
}
process.exit(exitCode);

function compile(hash) {
  const out = join(work, `build-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', '--outDir', out], {
      cwd: root,
      stdio: 'inherit',
    });
    // tsc exits 2 when it reports errors but still wrote its output, 1 when it wrote nothing.
    const clean = r.status === 0;
    if (!clean && !(r.status === 2 && allowTypeErrors)) {
      console.error(`build: tsc failed (exit ${r.status ?? r.signal}); dist/ left unchanged`);
      return 1;
    }
    // The stamp goes first and comes back last, so a build stopped half-way is not "fresh".
    rmSync(stampFile, { force: true });
    swapIn(out, dist);
    writeFileSync(`${stampFile}.${process.pid}`, JSON.stringify({ hash, clean }));
    renameSync(`${stampFile}.${process.pid}`, stampFile);
    if (!clean) console.error('build: type errors (see above); dist/ built from the sources anyway');
    console.error(`build: ${relative(root, dist)}/ up to date`);
    return 0;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
