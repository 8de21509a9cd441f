/**
 * Path confinement (CWE-22): a user-supplied path is resolved inside a root directory or rejected.
 *
 * Two checks: the lexical one (`..` segments and absolute paths, after `path.resolve`) and the
 * physical one (the real path of the nearest existing ancestor, so a symlink inside the root that
 * points outside is caught even when the final file does not exist yet). A dangling symlink is
 * followed to its target so that creating a file through it cannot land outside either.
 * Backslashes and `%2e%2e%2f` are ordinary name characters on POSIX and stay inside the root.
 */

import { lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { lstat, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { CORE_ERRORS, describeValue, MarshalError } from './errors.ts';
import { sanitizeForLog } from './log-hygiene.ts';

export interface ResolveInsideOptions {
  /** Name of the option or field the path came from, shown in the error (default `path`). */
  field?: string;
}

/** Bound on symlink hops when following dangling links (the kernel's own limit is 40). */
const MAX_LINK_HOPS = 40;

/** True when `candidate` is `root` itself or lies below it (lexical check; both are resolved first). */
export function isInside(root: string, candidate: string): boolean {
  const rel = relative(resolve(root), resolve(candidate));
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * Resolves `userPath` (relative to `root`, or absolute) to an absolute path inside `root`.
 * Throws MarshalError `E_PATH_ESCAPE` (exit 2) naming the field and the (sanitised) path when the
 * path is empty, contains a NUL byte, leaves the root lexically, or leads outside through a symlink.
 */
export async function resolveInside(
  root: string,
  userPath: string,
  options: ResolveInsideOptions = {},
): Promise<string> {
  const { rootAbs, candidate } = lexicalCheck(root, userPath, options);
  try {
    const realRoot = await realpathNearest(rootAbs);
    physicalCheck(realRoot, await realpathNearest(candidate), root, userPath, options);
  } catch (err) {
    throw loopToEscape(err, root, userPath, options);
  }
  return candidate;
}

/** Synchronous {@link resolveInside}, for option parsing and other places that cannot await. */
export function resolveInsideSync(
  root: string,
  userPath: string,
  options: ResolveInsideOptions = {},
): string {
  const { rootAbs, candidate } = lexicalCheck(root, userPath, options);
  try {
    const realRoot = realpathNearestSync(rootAbs);
    physicalCheck(realRoot, realpathNearestSync(candidate), root, userPath, options);
  } catch (err) {
    throw loopToEscape(err, root, userPath, options);
  }
  return candidate;
}

function lexicalCheck(root: string, userPath: string, options: ResolveInsideOptions) {
  if (typeof userPath !== 'string') throw escapeError(root, userPath, options, 'is not a string');
  if (userPath === '') throw escapeError(root, userPath, options, 'is empty');
  if (userPath.includes('\0')) throw escapeError(root, userPath, options, 'contains a NUL byte');
  if (root.includes('\0')) throw escapeError(root, userPath, options, 'has a root containing a NUL byte');
  const rootAbs = resolve(root);
  const candidate = resolve(rootAbs, userPath);
  if (!isInside(rootAbs, candidate)) {
    const why = isAbsolute(userPath) ? 'is absolute and outside the root' : 'leaves the root through ".."';
    throw escapeError(root, userPath, options, why);
  }
  return { rootAbs, candidate };
}

function physicalCheck(
  realRoot: string,
  real: string,
  root: string,
  userPath: string,
  options: ResolveInsideOptions,
) {
  if (!isInside(realRoot, real)) {
    throw escapeError(root, userPath, options, 'leads outside the root through a symlink');
  }
}

/** A symlink loop cannot be proven to stay inside, so it is rejected like an escape. */
function loopToEscape(err: unknown, root: string, userPath: string, options: ResolveInsideOptions): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'ELOOP') return err;
  return escapeError(root, userPath, options, 'runs into a symlink loop');
}

function escapeError(
  root: string,
  userPath: unknown,
  options: ResolveInsideOptions,
  reason: string,
): MarshalError {
  const field = options.field ?? 'path';
  const shown =
    typeof userPath === 'string' ? sanitizeForLog(describeValue(userPath)) : describeValue(userPath);
  const shownRoot = sanitizeForLog(root);
  return new MarshalError(
    CORE_ERRORS.E_PATH_ESCAPE,
    `${field}: path ${shown} ${reason} (root: ${shownRoot})`,
    {
      details: {
        field,
        path: typeof userPath === 'string' ? sanitizeForLog(userPath) : userPath,
        root: shownRoot,
        reason,
      },
    },
  );
}

function loopError(path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`too many symbolic links at ${path}`), { code: 'ELOOP' });
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/**
 * Real path of `path`, where the part that does not exist yet is appended to the real path of the
 * nearest existing ancestor. A dangling symlink on the way is replaced by its target.
 */
async function realpathNearest(path: string, hops = 0): Promise<string> {
  const tail: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(await realpath(current), ...tail);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    const link = await lstat(current).catch(() => undefined);
    if (link?.isSymbolicLink()) {
      if (hops >= MAX_LINK_HOPS) throw loopError(current);
      const target = resolve(dirname(current), await readlink(current));
      return realpathNearest(join(target, ...tail), hops + 1);
    }
    const parent = dirname(current);
    if (parent === current) return join(current, ...tail);
    tail.unshift(basename(current));
    current = parent;
  }
}

function realpathNearestSync(path: string, hops = 0): string {
  const tail: string[] = [];
  let current = path;
  for (;;) {
    try {
      return join(realpathSync(current), ...tail);
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
    let isLink = false;
    try {
      isLink = lstatSync(current).isSymbolicLink();
    } catch {
      isLink = false;
    }
    if (isLink) {
      if (hops >= MAX_LINK_HOPS) throw loopError(current);
      const target = resolve(dirname(current), readlinkSync(current));
      return realpathNearestSync(join(target, ...tail), hops + 1);
    }
    const parent = dirname(current);
    if (parent === current) return join(current, ...tail);
    tail.unshift(basename(current));
    current = parent;
  }
}
