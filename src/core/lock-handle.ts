/**
 * The handle of a held lock: heartbeat (refresh the heartbeat time while the lock is still ours) and
 * release (remove it only if it is still ours). Operations on one handle run one at a time, so a
 * heartbeat and a release never interleave.
 */
import { unlink } from 'node:fs/promises';
import { InvalidInputError } from './errors.ts';
import {
  isSameLock,
  type LockOwner,
  moveAside,
  parseLockOwner,
  putBack,
  touchIfOurs,
} from './lock-record.ts';

export interface HeartbeatCallbacks {
  /** The lock is no longer ours (taken over or removed); the heartbeat has stopped. */
  onLost?: () => void;
  /** A heartbeat failed (for example a full disk); heartbeats go on. */
  onError?: (error: unknown) => void;
  /** Stops the heartbeat when aborted (same as calling the returned stop function). */
  signal?: AbortSignal;
}

export interface LockHandle {
  readonly path: string;
  /** This acquisition's record; heartbeatAt is the time of the last successful heartbeat. */
  readonly owner: LockOwner;
  /**
   * Refreshes heartbeatAt (the lock file's mtime, set on the very inode checked to be ours).
   * False, and nothing touched, when the lock is no longer ours.
   */
  heartbeat(): Promise<boolean>;
  /** Heartbeats every `intervalMs` (timer unref'd) until the returned function is called or the lock is lost. */
  startHeartbeat(intervalMs: number, callbacks?: HeartbeatCallbacks): () => void;
  /** Removes the lock if it is still ours: true when removed, false when it was not ours (left untouched). */
  release(): Promise<boolean>;
}

/** Builds the handle for a lock this process has just placed. */
export function createLockHandle(path: string, initial: LockOwner, now: () => number): LockHandle {
  let owner = initial;
  let released = false;
  let queue: Promise<unknown> = Promise.resolve();
  const stops = new Set<() => void>();

  const serial = <T>(op: () => Promise<T>): Promise<T> => {
    const run = queue.then(op, op);
    queue = run.catch(() => undefined);
    return run;
  };

  const heartbeat = (): Promise<boolean> =>
    serial(async () => {
      if (released) return false;
      const at = now();
      if (!(await touchIfOurs(path, owner, at))) return false;
      owner = { ...owner, heartbeatAt: new Date(at).toISOString() };
      return true;
    });

  const release = (): Promise<boolean> =>
    serial(async () => {
      for (const stop of [...stops]) stop();
      if (released) return false;
      released = true;
      // Move aside first so the check and the removal concern the same file.
      const moved = await moveAside(path, 'release');
      if (!moved) return false;
      const onDisk = parseLockOwner(moved.text);
      const ours = onDisk !== null && isSameLock(onDisk, owner);
      if (!ours) await putBack(path, moved);
      await unlink(moved.grave).catch(() => undefined);
      return ours;
    });

  const startHeartbeat = (intervalMs: number, callbacks: HeartbeatCallbacks = {}): (() => void) => {
    if (!Number.isFinite(intervalMs) || intervalMs <= 0) {
      throw new InvalidInputError('intervalMs', intervalMs, 'a positive number of ms');
    }
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      if (timer) clearTimeout(timer);
      stops.delete(stop);
      callbacks.signal?.removeEventListener('abort', stop);
    };
    const tick = async (): Promise<void> => {
      let alive = true;
      try {
        alive = await heartbeat();
      } catch (err) {
        if (!stopped) callbacks.onError?.(err);
      }
      if (stopped) return;
      if (!alive) {
        stop();
        if (!released) callbacks.onLost?.();
        return;
      }
      schedule();
    };
    const schedule = (): void => {
      timer = setTimeout(() => void tick(), intervalMs);
      timer.unref();
    };
    stops.add(stop);
    if (callbacks.signal?.aborted) stop();
    else {
      callbacks.signal?.addEventListener('abort', stop, { once: true });
      schedule();
    }
    return stop;
  };

  return {
    path,
    get owner() {
      return owner;
    },
    heartbeat,
    startHeartbeat,
    release,
  };
}
