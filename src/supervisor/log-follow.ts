/**
 * Reading the tail of a log file and following it as it grows, across size-based rotation
 * (`log` renamed to `log.1`, a fresh `log` created) and truncation.
 *
 * Following polls `stat` rather than relying on `fs.watch` alone: watchers miss renames on some
 * filesystems, and a poll every few hundred milliseconds costs nothing next to a server's logs.
 */
import { type FileHandle, open, stat } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import { sleep } from '../core/async.ts';
import { isAbortError } from '../core/errors.ts';

const CHUNK = 64 * 1024;

/**
 * The last `n` complete-or-final lines of `path` (empty lines dropped). A missing file gives `[]`.
 * Reads backwards in chunks, so the cost follows `n`, not the file size; at most `maxBytes` are read.
 */
export async function readLastLines(
  path: string,
  n: number,
  options: { maxBytes?: number } = {},
): Promise<string[]> {
  if (n <= 0) return [];
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    const { size } = await fh.stat();
    const chunks: Buffer[] = [];
    let pos = size;
    let newlines = 0;
    let read = 0;
    while (pos > 0 && newlines <= n && read < maxBytes) {
      const len = Math.min(CHUNK, pos, maxBytes - read);
      pos -= len;
      const buf = Buffer.alloc(len);
      await fh.read(buf, 0, len, pos);
      chunks.unshift(buf);
      read += len;
      for (const b of buf) if (b === 0x0a) newlines++;
    }
    let lines = Buffer.concat(chunks).toString('utf8').split('\n');
    // The first line may be cut in the middle when we stopped before the file's start.
    if (pos > 0) lines = lines.slice(1);
    return lines.filter((l) => l.trim() !== '').slice(-n);
  } finally {
    await fh.close();
  }
}

export interface FollowOptions {
  signal: AbortSignal;
  /** Poll interval; default 250 ms. */
  intervalMs?: number;
  /** Start at the current end of the file (default) or at its beginning. */
  from?: 'end' | 'start';
}

interface Cursor {
  fh: FileHandle;
  ino: number;
  pos: number;
  decoder: StringDecoder;
  partial: string;
}

/**
 * Yields each new complete line appended to `path` until `signal` aborts (then it returns
 * quietly). A missing file is waited for; after a rotation the rest of the old file is read before
 * the new one is opened from its start; a truncated file is reread from its start.
 */
export async function* followLines(path: string, options: FollowOptions): AsyncGenerator<string> {
  const { signal } = options;
  const intervalMs = options.intervalMs ?? 250;
  let cursor = await openCursor(path, options.from ?? 'end');
  try {
    while (!signal.aborted) {
      if (cursor) yield* drain(cursor);
      const current = await stat(path).catch(() => undefined);
      if (!cursor) {
        if (current) {
          cursor = await openCursor(path, 'start');
          continue;
        }
      } else if (current && current.ino !== cursor.ino) {
        // Rotated: finish the old file (still open under its new name), then switch over.
        yield* drain(cursor);
        if (cursor.partial !== '') yield cursor.partial;
        await cursor.fh.close();
        cursor = await openCursor(path, 'start');
        continue;
      } else if (current && current.size < cursor.pos) {
        cursor.pos = 0;
        cursor.partial = '';
        continue;
      }
      try {
        await sleep(intervalMs, { signal });
      } catch (err) {
        if (isAbortError(err)) return;
        throw err;
      }
    }
  } finally {
    await cursor?.fh.close().catch(() => undefined);
  }
}

async function openCursor(path: string, from: 'end' | 'start'): Promise<Cursor | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const st = await fh.stat();
  return {
    fh,
    ino: st.ino,
    pos: from === 'end' ? st.size : 0,
    decoder: new StringDecoder('utf8'),
    partial: '',
  };
}

async function* drain(cursor: Cursor): AsyncGenerator<string> {
  const buf = Buffer.alloc(CHUNK);
  for (;;) {
    const { bytesRead } = await cursor.fh.read(buf, 0, CHUNK, cursor.pos);
    if (bytesRead === 0) return;
    cursor.pos += bytesRead;
    const text = cursor.partial + cursor.decoder.write(buf.subarray(0, bytesRead));
    const lines = text.split('\n');
    cursor.partial = lines.pop() ?? '';
    for (const line of lines) if (line.trim() !== '') yield line;
  }
}
