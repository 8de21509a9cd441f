/**
 * Crash-safe file writes and typed JSON reads.
 *
 * A write goes to a uniquely named temp file in the target's directory, is fsynced, renamed over
 * the target (atomic on POSIX within one filesystem) and the directory is fsynced so the rename
 * itself survives a power cut. A reader therefore sees the old or the new content, never a mix,
 * even when the writer is SIGKILLed half way.
 */

import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { z } from 'zod';
import { CORE_ERRORS, MarshalError } from './errors.ts';

export interface WriteAtomicOptions {
  /** File mode of the result (default 0o644; pass 0o600 for secrets). Applied exactly, not masked by umask. */
  mode?: number;
}

/** The temp name used for a write to `path`: hidden, per process, random, so concurrent writers never collide. */
export function atomicTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes `data` to `path` atomically (temp file in the same directory, fsync, rename, fsync of the
 * directory). On any error the temp file is removed and the target is left untouched.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteAtomicOptions = {},
): Promise<void> {
  const mode = options.mode ?? 0o644;
  const tmp = atomicTempPath(path);
  let created = false;
  try {
    const handle = await open(tmp, 'wx', mode);
    created = true;
    try {
      await handle.writeFile(data);
      // open()'s mode is masked by the umask; chmod makes 0o600 / 0o644 exact.
      await handle.chmod(mode);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
    created = false;
  } catch (err) {
    if (created) await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await syncDirectory(dirname(path));
}

/** Serialises `value` as pretty JSON (2-space indent, trailing newline) and writes it with {@link writeFileAtomic}. */
export async function writeJsonAtomic(
  path: string,
  value: unknown,
  options: WriteAtomicOptions = {},
): Promise<void> {
  const text = JSON.stringify(value, null, 2);
  if (text === undefined) {
    throw new MarshalError(
      CORE_ERRORS.E_INVALID_INPUT,
      `cannot write ${path}: value is not JSON-serialisable (${typeof value})`,
      {
        details: { path },
      },
    );
  }
  await writeFileAtomic(path, `${text}\n`, options);
}

/** Makes a completed rename durable. Some platforms/filesystems cannot fsync a directory; that is not an error. */
async function syncDirectory(dir: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (
      code !== 'EISDIR' &&
      code !== 'EINVAL' &&
      code !== 'EPERM' &&
      code !== 'ENOTSUP' &&
      code !== 'EBADF'
    ) {
      throw err;
    }
  } finally {
    await handle?.close();
  }
}

/** Outcome of {@link readJsonFile}; every way a JSON file can be unusable is its own case. */
export type ReadJsonResult<T> =
  | { status: 'ok'; value: T }
  | { status: 'missing' }
  /** Exists but cannot be read (EACCES, EISDIR, ...). */
  | { status: 'unreadable'; error: NodeJS.ErrnoException }
  /** Read but not valid JSON (includes an empty file). */
  | { status: 'corrupt'; error: SyntaxError; text: string }
  /** Valid JSON that the schema rejects; issues are rendered `key.path: message`. */
  | { status: 'invalid'; issues: string[]; raw: unknown };

/**
 * Reads and parses a JSON file, optionally validating it with a zod schema. Never throws for file
 * or content problems: they come back as a {@link ReadJsonResult} case. A UTF-8 BOM is tolerated.
 */
export async function readJsonFile(path: string): Promise<ReadJsonResult<unknown>>;
export async function readJsonFile<T>(path: string, schema: z.ZodType<T>): Promise<ReadJsonResult<T>>;
export async function readJsonFile<T>(
  path: string,
  schema?: z.ZodType<T>,
): Promise<ReadJsonResult<T | unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const error = err as NodeJS.ErrnoException;
    if (error.code === 'ENOENT') return { status: 'missing' };
    return { status: 'unreadable', error };
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (err) {
    return { status: 'corrupt', error: err as SyntaxError, text };
  }
  if (!schema) return { status: 'ok', value: raw };
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { status: 'ok', value: parsed.data };
  return { status: 'invalid', issues: parsed.error.issues.map(renderIssue), raw };
}

/** `servers.0.port: Invalid input: expected number, received string`; the root is shown as `(root)`. */
function renderIssue(issue: { path: readonly PropertyKey[]; message: string }): string {
  const key = issue.path.length === 0 ? '(root)' : issue.path.map((p) => String(p)).join('.');
  return `${key}: ${issue.message}`;
}
