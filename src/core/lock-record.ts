/**
 * The on-disk lock record and the two filesystem moves locks are built from: an exclusive place
 * (link of a fully written temp file) and a move aside (rename to a unique name).
 */
import { randomBytes } from 'node:crypto';
import { link, open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import { atomicTempPath } from './atomic-file.ts';

/**
 * The record stored in a lock file. Times are ISO-8601 strings. Heartbeats touch the file's mtime
 * rather than rewriting it, so `heartbeatAt` as read is the later of the recorded time and the mtime.
 */
export interface LockOwner {
  pid: number;
  processStartTime: number | null;
  host: string;
  purpose: string;
  createdAt: string;
  heartbeatAt: string;
}

const LINK_UNSUPPORTED = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

const ownerSchema = z.object({
  pid: z.number().int().positive(),
  processStartTime: z.number().int().nonnegative().nullable(),
  host: z.string(),
  purpose: z.string(),
  createdAt: z.string().refine((s) => Number.isFinite(Date.parse(s))),
  heartbeatAt: z
    .string()
    .refine((s) => Number.isFinite(Date.parse(s)))
    .optional(),
});

/** Parses lock file text into an owner, or null when it is not a valid marshal lock record. */
export function parseLockOwner(text: string): LockOwner | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  const parsed = ownerSchema.safeParse(raw);
  if (!parsed.success) return null;
  return { ...parsed.data, heartbeatAt: parsed.data.heartbeatAt ?? parsed.data.createdAt };
}

/** True when both records describe the same acquisition (same process, same createdAt). */
export function isSameLock(a: LockOwner, b: LockOwner): boolean {
  return (
    a.pid === b.pid &&
    a.processStartTime === b.processStartTime &&
    a.host === b.host &&
    a.createdAt === b.createdAt
  );
}

/**
 * Puts `text` at `path` only if nothing is there; false when the path exists. `mtimeMs` sets the
 * file's mtime (its heartbeat time) so that a new lock's heartbeatAt equals its createdAt.
 */
export async function placeExclusive(path: string, text: string, mtimeMs?: number): Promise<boolean> {
  const tmp = atomicTempPath(path);
  const handle = await open(tmp, 'wx', 0o644);
  try {
    try {
      await handle.writeFile(text);
      if (mtimeMs !== undefined) await handle.utimes(new Date(mtimeMs), new Date(mtimeMs));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await link(tmp, path);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!LINK_UNSUPPORTED.has(code)) throw err;
    return placeWithOpenWx(path, text, mtimeMs);
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

async function placeWithOpenWx(path: string, text: string, mtimeMs: number | undefined): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await handle.writeFile(text);
    if (mtimeMs !== undefined) await handle.utimes(new Date(mtimeMs), new Date(mtimeMs));
    await handle.sync();
  } finally {
    await handle.close();
  }
  return true;
}

/**
 * Moves the file at `path` aside under a unique name, so exactly one of several contenders gets
 * it. Returns the moved file's text, or undefined when there was nothing to move.
 */
export async function moveAside(
  path: string,
  tag: string,
): Promise<{ grave: string; text: string } | undefined> {
  const grave = join(
    dirname(path),
    `.${basename(path)}.${tag}.${process.pid}.${randomBytes(6).toString('hex')}`,
  );
  try {
    await rename(path, grave);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return { grave, text: await readFile(grave, 'utf8') };
}

/**
 * Puts a file that was moved aside back at `path` (a hard link, so inode, mtime and mode are kept),
 * unless something new has taken its place meanwhile. The aside name is left for the caller to remove.
 */
export async function putBack(path: string, moved: { grave: string; text: string }): Promise<void> {
  try {
    await link(moved.grave, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return;
    if (!LINK_UNSUPPORTED.has(code)) throw err;
    await placeExclusive(path, moved.text);
  }
}

/** One consistent look at a lock file: content and inode facts read through the same descriptor. */
export interface LockSnapshot {
  text: string;
  ino: bigint;
  mtimeNs: bigint;
  mtimeMs: number;
}

/** Reads the lock file at `path`; undefined when there is none. */
export async function snapshotLock(path: string): Promise<LockSnapshot | undefined> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const st = await handle.stat({ bigint: true });
    const text = await handle.readFile('utf8');
    // Rounded: utimes() goes through a float of seconds, so a time set in ms can come back 1 ns short.
    return { text, ino: st.ino, mtimeNs: st.mtimeNs, mtimeMs: Number((st.mtimeNs + 500_000n) / 1_000_000n) };
  } finally {
    await handle.close();
  }
}

/** `owner` with heartbeatAt moved up to the file mtime when that is later (see {@link touchIfOurs}). */
export function withMtimeHeartbeat(owner: LockOwner, mtimeMs: number): LockOwner {
  const recorded = Date.parse(owner.heartbeatAt);
  return mtimeMs > recorded ? { ...owner, heartbeatAt: new Date(Math.floor(mtimeMs)).toISOString() } : owner;
}

/**
 * The heartbeat: when the file at `path` holds the acquisition `owner`, sets the mtime of exactly
 * that inode (through the descriptor its content was read from) to `atMs`. A lock that replaced
 * ours in between is never modified, unlike a check-then-rewrite. False when it is not ours.
 */
export async function touchIfOurs(path: string, owner: LockOwner, atMs: number): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  try {
    const onDisk = parseLockOwner(await handle.readFile('utf8'));
    if (onDisk === null || !isSameLock(onDisk, owner)) return false;
    const at = new Date(atMs);
    await handle.utimes(at, at);
    return true;
  } finally {
    await handle.close();
  }
}
