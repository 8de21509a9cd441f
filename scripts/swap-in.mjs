// Replacing a directory's contents so that a concurrent reader never sees a half-written or
// missing file: each changed file is renamed over its counterpart (rename(2) replaces the name
// atomically; an open file keeps its old content), unchanged files are left alone, and files the
// new tree lacks are removed last. Used by scripts/build.mjs for dist/.
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmdirSync,
  rmSync,
  unlinkSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

/** Every regular file under `dir`, as paths relative to `dir`, sorted. */
export function filesUnder(dir) {
  const out = [];
  const walk = (sub) => {
    for (const e of readdirSync(join(dir, sub), { withFileTypes: true })) {
      const rel = join(sub, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.isFile()) out.push(rel);
    }
  };
  walk('');
  return out.sort();
}

/** Moves the files of `from` over `to`, one atomic rename each, then removes what `from` lacks. */
export function swapIn(from, to) {
  if (!existsSync(to)) {
    renameSync(from, to);
    return;
  }
  const next = filesUnder(from);
  const keep = new Set(next);
  for (const rel of next) {
    const src = join(from, rel);
    const dst = join(to, rel);
    if (existsSync(dst) && readFileSync(dst).equals(readFileSync(src))) continue;
    mkdirSync(dirname(dst), { recursive: true });
    renameSync(src, dst);
  }
  for (const rel of filesUnder(to)) if (!keep.has(rel)) unlinkSync(join(to, rel));
  removeEmptyDirs(to);
  rmSync(from, { recursive: true, force: true });
}

function removeEmptyDirs(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const sub = join(dir, e.name);
    removeEmptyDirs(sub);
    if (readdirSync(sub).length === 0) rmdirSync(sub);
  }
}
