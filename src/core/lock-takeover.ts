/**
 * Race-safe removal of a stale lock file.
 *
 * Several processes may judge the same stale file at once; exactly one may remove it, and nobody
 * may remove the fresh lock that replaces it. The stale instance is named by a key derived from
 * its inode, mtime and content (read through one descriptor). Only the process that creates the
 * guard file `.<base>.takeover.<key>` exclusively may remove that instance; holding the guard, it
 * checks that the path still holds the judged inode, renames it aside, checks the rename moved that
 * same inode, and deletes it. A contender that arrives after the guard is gone finds another inode
 * at the path (or none) and judges again.
 *
 * What remains: if the stale lock's owner is alive (expired by TTL) and heartbeats between the
 * check and the rename, its lock is put back by copy; a third process creating a lock in that
 * short gap makes two owners, and the expired owner's next heartbeat reports the loss.
 */
import { open, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { sha256 } from './hash.ts';
import { type LockSnapshot, moveAside, putBack, snapshotLock } from './lock-record.ts';

/** A guard older than this belongs to a remover that crashed half way; it may be cleared. */
const GUARD_STALE_MS = 10_000;

/** `removed`: retry the create. `changed`: the path holds something else, judge again. `contended`: someone else is removing it. */
export type TakeOverResult = 'removed' | 'changed' | 'contended';

/** The guard file that serialises removal of the stale instance `judged` of the lock at `path`. */
export function takeoverGuardPath(path: string, judged: LockSnapshot): string {
  const key = sha256(`${judged.ino}:${judged.mtimeNs}:${judged.text}`).slice(0, 20);
  return join(dirname(path), `.${basename(path)}.takeover.${key}`);
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException).code;
}

/** Removes the lock at `path` if it is still exactly the `judged` stale instance. */
export async function takeOverStale(path: string, judged: LockSnapshot): Promise<TakeOverResult> {
  const guard = takeoverGuardPath(path, judged);
  if (!(await createGuard(guard))) {
    if (!(await clearAbandonedGuard(guard)) || !(await createGuard(guard))) return 'contended';
  }
  try {
    const current = await snapshotLock(path);
    if (current?.ino !== judged.ino || current.mtimeNs !== judged.mtimeNs) return 'changed';
    const moved = await moveAside(path, 'stale');
    if (!moved) return 'changed';
    const movedStat = await stat(moved.grave, { bigint: true });
    const same = movedStat.ino === judged.ino && movedStat.mtimeNs === judged.mtimeNs;
    // Not the judged instance: its live owner heartbeated or re-acquired just now. Put it back.
    if (!same) await putBack(path, moved);
    await unlink(moved.grave).catch(() => undefined);
    return same ? 'removed' : 'changed';
  } finally {
    await unlink(guard).catch(() => undefined);
  }
}

async function createGuard(guard: string): Promise<boolean> {
  try {
    await (await open(guard, 'wx', 0o644)).close();
    return true;
  } catch (err) {
    if (errCode(err) === 'EEXIST') return false;
    throw err;
  }
}

/** Deletes a guard left by a remover that died (older than GUARD_STALE_MS). True when it is gone. */
async function clearAbandonedGuard(guard: string): Promise<boolean> {
  try {
    if (Date.now() - (await stat(guard)).mtimeMs <= GUARD_STALE_MS) return false;
    await unlink(guard);
    return true;
  } catch (err) {
    if (errCode(err) === 'ENOENT') return true;
    throw err;
  }
}
