/**
 * Crash-safe file writes and typed JSON reads.
 *
 * A write goes to a uniquely named temp file in the target's directory, is fsynced, renamed over
 * the target (atomic on POSIX within one filesystem) and the directory is fsynced so the rename
 * itself survives a power cut. A reader therefore sees the old or the new content, never a mix,
 * even when the writer is SIGKILLed half way.
 */

import { randomBytes } from 'node:crypto';
import { open, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { z } from 'zod';
import { assertNever, CORE_ERRORS, MarshalError } from './errors.ts';
import { type CappedRead, describeCappedRead, readCappedFile } from './files.ts';

export interface WriteAtomicOptions {
  /**
   * File mode of the result, applied exactly (not masked by the umask): pass 0o600 for secrets.
   * Without it, a replaced file keeps its mode (a 0600 `.env` stays 0600, a 0755 script stays
   * 0755) and a new file gets 0o666 less the umask, as `open(2)` and shell redirection do.
   */
  mode?: number;
}

/** The temp name used for a write to `path`: hidden, per process, random, so concurrent writers never collide. */
export function atomicTempPath(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes `data` to `path` atomically (temp file in the same directory, fsync, rename, fsync of the
 * directory). On any error the temp file is removed and the target is left untouched. The mode of
 * the result follows {@link WriteAtomicOptions.mode}.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: WriteAtomicOptions = {},
): Promise<void> {
  // The mode to set once written: the explicit one, else the replaced file's own. A new file with
  // neither is created 0o666 and the kernel applies the umask (no process.umask() read needed).
  const mode = options.mode ?? (await existingMode(path));
  const tmp = atomicTempPath(path);
  let created = false;
  try {
    // Until the chmod, the temp file is private, so content meant to stay 0600 is never exposed.
    const handle = await open(tmp, 'wx', mode === undefined ? 0o666 : 0o600);
    created = true;
    try {
      await handle.writeFile(data);
      if (mode !== undefined) await handle.chmod(mode);
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

/**
 * Permission bits of the file at `path`, or undefined when there is none. Setuid, setgid and sticky
 * bits are dropped on purpose: new content must not inherit a privilege granted to the old one.
 */
async function existingMode(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mode & 0o777;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
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

/** Largest JSON file {@link readJsonFile} reads (32 MiB): plans, reports and protocol files are far smaller. */
export const MAX_JSON_FILE_BYTES = 32 * 1024 * 1024;

/** Outcome of {@link readJsonFile}; every way a JSON file can be unusable is its own case. */
export type ReadJsonResult<T> =
  | { status: 'ok'; value: T }
  | { status: 'missing' }
  /** Exists but cannot be read (EACCES, EISDIR; EINVAL for a FIFO or device, EFBIG over the cap). */
  | { status: 'unreadable'; error: NodeJS.ErrnoException }
  /** Read but not valid JSON (includes an empty file). */
  | { status: 'corrupt'; error: SyntaxError; text: string }
  /** Valid JSON that the schema rejects; issues are rendered `key.path: message`. */
  | { status: 'invalid'; issues: string[]; raw: unknown };

/**
 * Reads and parses a JSON file, optionally validating it with a zod schema. Never throws for file
 * or content problems: they come back as a {@link ReadJsonResult} case. A UTF-8 BOM is tolerated.
 * Only regular files of at most {@link MAX_JSON_FILE_BYTES} are read (a FIFO never blocks).
 */
export async function readJsonFile(path: string): Promise<ReadJsonResult<unknown>>;
export async function readJsonFile<T>(path: string, schema: z.ZodType<T>): Promise<ReadJsonResult<T>>;
export async function readJsonFile<T>(
  path: string,
  schema?: z.ZodType<T>,
): Promise<ReadJsonResult<T | unknown>> {
  const read = await readCappedFile(path, { maxBytes: MAX_JSON_FILE_BYTES });
  if (read.kind === 'missing') return { status: 'missing' };
  if (read.kind !== 'ok') return { status: 'unreadable', error: readError(path, read) };
  const text = read.text;
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

/** A failed capped read as the errno-style error {@link ReadJsonResult} carries. */
function readError(
  path: string,
  read: Exclude<CappedRead, { kind: 'ok' | 'missing' }>,
): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${path} ${describeCappedRead(read)}`);
  switch (read.kind) {
    case 'not-regular':
      error.code = read.type === 'a directory' ? 'EISDIR' : 'EINVAL';
      break;
    case 'too-large':
      error.code = 'EFBIG';
      break;
    case 'symlink':
      error.code = 'ELOOP';
      break;
    case 'unreadable':
      if (read.code !== undefined) error.code = read.code;
      break;
    default:
      return assertNever(read, 'capped read result');
  }
  return error;
}

/** `servers.0.port: Invalid input: expected number, received string`; the root is shown as `(root)`. */
function renderIssue(issue: { path: readonly PropertyKey[]; message: string }): string {
  const key = issue.path.length === 0 ? '(root)' : issue.path.map((p) => String(p)).join('.');
  return `${key}: ${issue.message}`;
}
