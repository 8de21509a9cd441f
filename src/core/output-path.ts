/**
 * Checking an output path before any work starts: a `--out` in a missing or read-only directory,
 * or a `--trace` that names a directory, should be a usage error at once, not a failure after a
 * ten-minute run. Writers still handle errors when they write; this only moves the common
 * mistakes to the start.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { CORE_ERRORS, UsageError } from './errors.ts';
import { sanitizeForLog } from './log-hygiene.ts';

export interface WritableOutputOptions {
  /** Directory that a relative `path` is relative to; default `process.cwd()` (pass `io.cwd`). */
  cwd?: string;
}

/**
 * Throws a {@link UsageError} (`E_INVALID_INPUT`, exit 2) naming `optionName` and the path unless
 * `path` can be written as a regular file: its directory exists and is writable (atomic writes put
 * a temp file there), and the path itself is absent or a writable regular file (not a directory, a
 * FIFO or a device).
 *
 * @example
 * await assertWritableOutput(values.out, '--out', { cwd: io.cwd });
 */
export async function assertWritableOutput(
  path: string,
  optionName: string,
  options: WritableOutputOptions = {},
): Promise<void> {
  const full = resolve(options.cwd ?? process.cwd(), path);
  const fail = (reason: string, why: string): never => {
    throw new UsageError(`${optionName}: cannot write ${sanitizeForLog(path)}: ${why}`, {
      code: CORE_ERRORS.E_INVALID_INPUT,
      details: { option: optionName, path, reason },
    });
  };
  if (path === '') fail('empty', 'the path is empty');
  const target = await stat(full).catch((err: NodeJS.ErrnoException) => err);
  if (target instanceof Error) {
    if (target.code === 'ENOTDIR') fail('parent-not-directory', 'a parent of it is not a directory');
    if (target.code !== 'ENOENT') fail('unreadable', target.message);
  } else if (target.isDirectory()) {
    fail('directory', 'it is a directory');
  } else if (!target.isFile()) {
    fail('not-regular', 'it is not a regular file');
  } else if (!(await writable(full))) {
    fail('not-writable', 'the file is not writable');
  }
  const dir = dirname(full);
  const parent = await stat(dir).catch((err: NodeJS.ErrnoException) => err);
  if (parent instanceof Error) {
    fail('no-directory', parent.code === 'ENOENT' ? 'its directory does not exist' : parent.message);
  } else if (!parent.isDirectory()) {
    fail('parent-not-directory', 'a parent of it is not a directory');
  } else if (!(await writable(dir, constants.X_OK))) {
    fail('directory-not-writable', 'its directory is not writable');
  }
}

async function writable(path: string, extra = 0): Promise<boolean> {
  try {
    await access(path, constants.W_OK | extra);
    return true;
  } catch {
    return false;
  }
}
