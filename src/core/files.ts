/**
 * Reading files that someone else may have put there (config files, protocol files, vectors,
 * questions): regular files only, opened without blocking (a FIFO would wedge a plain read) and,
 * where asked, without following a symlink, read up to a cap (so `/dev/urandom` or a 200 MB
 * request costs at most the cap). Results are data; callers turn them into their own errors.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { assertNever } from './errors.ts';

/** What {@link readCappedFile} found. */
export type CappedRead =
  | { kind: 'ok'; bytes: Buffer; text: string }
  | { kind: 'missing' }
  | { kind: 'symlink' }
  | { kind: 'not-regular'; type: string }
  | { kind: 'too-large'; size: number; maxBytes: number }
  | { kind: 'unreadable'; message: string; code?: string };

export interface CappedReadOptions {
  /** Largest accepted size in bytes. */
  maxBytes: number;
  /** Refuse a symlink at the last path component (default false: follow it, then check the target). */
  noFollow?: boolean;
}

/** Reads a regular file of at most `maxBytes` bytes, never blocking on FIFOs or devices. */
export async function readCappedFile(path: string, options: CappedReadOptions): Promise<CappedRead> {
  const flags =
    constants.O_RDONLY | constants.O_NONBLOCK | (options.noFollow === true ? constants.O_NOFOLLOW : 0);
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, flags);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'missing' };
    if (code === 'ELOOP' && options.noFollow === true) return { kind: 'symlink' };
    return { kind: 'unreadable', message: (err as Error).message, ...(code === undefined ? {} : { code }) };
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) return { kind: 'not-regular', type: fileType(st) };
    if (st.size > options.maxBytes) return { kind: 'too-large', size: st.size, maxBytes: options.maxBytes };
    // The file may grow between stat and read: read at most cap + 1 bytes and check again.
    const buf = Buffer.alloc(Math.min(st.size, options.maxBytes) + 1);
    let filled = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buf, filled, buf.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
      if (filled === buf.length) break;
    }
    if (filled > options.maxBytes) return { kind: 'too-large', size: filled, maxBytes: options.maxBytes };
    const bytes = buf.subarray(0, filled);
    return { kind: 'ok', bytes, text: bytes.toString('utf8') };
  } catch (err) {
    return { kind: 'unreadable', message: (err as Error).message };
  } finally {
    await handle.close();
  }
}

/** One-line description of a failed {@link CappedRead}, for error messages ("is a FIFO", ...). */
export function describeCappedRead(result: Exclude<CappedRead, { kind: 'ok' }>): string {
  switch (result.kind) {
    case 'missing':
      return 'does not exist';
    case 'symlink':
      return 'is a symbolic link (refused)';
    case 'not-regular':
      return `is not a regular file (${result.type})`;
    case 'too-large':
      return `is larger than the ${formatBytes(result.maxBytes)} limit (${formatBytes(result.size)})`;
    case 'unreadable':
      return `cannot be read: ${result.message}`;
    default:
      return assertNever(result, 'capped read result');
  }
}

function fileType(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSymbolicLink()) return 'a symbolic link';
  return 'not a regular file';
}

/** Human size: 64 KiB, 1 MiB, 1.2 GiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${Number.isInteger(v) ? v : v.toFixed(1)} ${units[i]}`;
}
