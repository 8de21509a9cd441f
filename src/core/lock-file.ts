/**
 * Lock files with owner identity, staleness and race-safe takeover.
 *
 * Acquire: the owner record is written and fsynced to a temp file which is then hard-linked to the
 * lock path. link(2) fails with EEXIST when the path exists, so it is an exclusive create like
 * `open(wx)`, but a reader never sees a half-written or empty marshal lock. (Where hard links are
 * unsupported, `open(wx)` + write is used instead.) An empty file is therefore always someone
 * else's ownerless lock, such as the one ComfyGit's panel leaves before handing over a switch.
 *
 * Stale: owner dead, PID reused (start time differs), or not refreshed within the TTL: the
 * heartbeat time is the later of the recorded heartbeatAt (else createdAt) and the file mtime,
 * which heartbeats touch; an ownerless (empty or unparsable) file ages by its mtime alone, as
 * ComfyGit's `.switch.lock` does. Of several processes that find
 * the same stale lock, exactly one removes it (see lock-takeover.ts) and then competes with
 * everyone else through the same exclusive create.
 */

import { sleep, throwIfAborted } from './async.ts';
import { CORE_ERRORS, InvalidInputError, MarshalError } from './errors.ts';
import { createLockHandle, type LockHandle } from './lock-handle.ts';
import {
  type LockOwner,
  type LockSnapshot,
  parseLockOwner,
  placeExclusive,
  snapshotLock,
  withMtimeHeartbeat,
} from './lock-record.ts';
import { takeOverStale } from './lock-takeover.ts';
import { sanitizeForLog } from './log-hygiene.ts';
import { currentIdentity, identityStatus } from './process-identity.ts';

export interface LockOptions {
  /** What the lock protects, shown to whoever finds it held (for example `switch`). */
  purpose: string;
  /** Age after which a lock counts as stale even if its owner lives (default 300 000 ms = 5 min). */
  ttlMs?: number;
  /** Take over an empty (ownerless) lock file at once, whatever its age. */
  adoptEmpty?: boolean;
  /** Clock (ms since epoch); injectable so TTL logic is testable without waiting. */
  now?: () => number;
}

export interface AcquireLockOptions extends LockOptions {
  /** Keep retrying for this long before giving up with E_LOCKED (default 0: one attempt). */
  waitMs?: number;
  /** Delay between retries while waiting (default 100 ms). */
  pollMs?: number;
  signal?: AbortSignal;
}

export type StaleReason = 'dead' | 'pid_reused' | 'expired' | 'empty';

/** What is at a lock path now. `owner` is null for an empty or unparsable (ownerless) file. */
export type LockState =
  | { status: 'free' }
  | { status: 'held'; owner: LockOwner | null }
  | { status: 'stale'; owner: LockOwner | null; reason: StaleReason };

const DEFAULT_TTL_MS = 300_000;
const MAX_ATTEMPTS = 10;

function validate(options: LockOptions): { ttlMs: number; now: () => number } {
  if (typeof options.purpose !== 'string' || options.purpose === '') {
    throw new InvalidInputError('purpose', options.purpose, 'a non-empty string');
  }
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) {
    throw new InvalidInputError('ttlMs', ttlMs, 'a positive number of ms');
  }
  return { ttlMs, now: options.now ?? Date.now };
}

/** Reads and classifies the lock at `path`; the snapshot is what a takeover must find unchanged. */
async function inspect(
  path: string,
  options: LockOptions,
): Promise<{ state: LockState; snap?: LockSnapshot }> {
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const now = options.now ?? Date.now;
  const snap = await snapshotLock(path);
  if (!snap) return { state: { status: 'free' } };
  const stale = (owner: LockOwner | null, reason: StaleReason) => ({
    state: { status: 'stale', owner, reason } as const,
    snap,
  });
  const held = (owner: LockOwner | null) => ({ state: { status: 'held', owner } as const, snap });
  if (snap.text === '' && options.adoptEmpty) return stale(null, 'empty');
  const recorded = parseLockOwner(snap.text);
  const owner = recorded && withMtimeHeartbeat(recorded, snap.mtimeMs);
  // Ownerless (empty or unparsable): nobody to ask, so only age can free it.
  if (owner === null) return now() - snap.mtimeMs > ttlMs ? stale(null, 'expired') : held(null);
  const identity = identityStatus(owner);
  if (identity === 'dead') return stale(owner, 'dead');
  if (identity === 'reused') return stale(owner, 'pid_reused');
  if (now() - Date.parse(owner.heartbeatAt) > ttlMs) return stale(owner, 'expired');
  return held(owner);
}

/** The state of the lock at `path`, judged with the given TTL / adoptEmpty / clock. */
export async function readLock(path: string, options: Omit<LockOptions, 'purpose'> = {}): Promise<LockState> {
  return (await inspect(path, { purpose: 'read', ...options })).state;
}

/** Tries to take the lock once (taking over a stale one); null when a live owner holds it. */
export async function tryAcquireLock(path: string, options: LockOptions): Promise<LockHandle | null> {
  const { now } = validate(options);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const atMs = now();
    const at = new Date(atMs).toISOString();
    const owner: LockOwner = {
      ...currentIdentity(),
      purpose: options.purpose,
      createdAt: at,
      heartbeatAt: at,
    };
    if (await placeExclusive(path, `${JSON.stringify(owner)}\n`, atMs))
      return createLockHandle(path, owner, now);
    const { state, snap } = await inspect(path, options);
    if (state.status === 'held') return null;
    // Another process is removing the same stale lock; it (or a plain create) wins this round.
    if (state.status === 'stale' && snap && (await takeOverStale(path, snap)) === 'contended') return null;
  }
  return null;
}

/**
 * Takes the lock at `path` or throws MarshalError `E_LOCKED` (exit 6) with `details.owner`.
 * With `waitMs`, retries every `pollMs` until then (abortable through `signal`).
 */
export async function acquireLock(path: string, options: AcquireLockOptions): Promise<LockHandle> {
  const { now } = validate(options);
  const deadline = now() + (options.waitMs ?? 0);
  for (;;) {
    throwIfAborted(options.signal);
    const handle = await tryAcquireLock(path, options);
    if (handle) return handle;
    if (now() >= deadline) break;
    await sleep(Math.min(options.pollMs ?? 100, Math.max(0, deadline - now())), { signal: options.signal });
  }
  throw lockedError(path, options, await readLock(path, options));
}

function lockedError(path: string, options: AcquireLockOptions, state: LockState): MarshalError {
  const owner = state.status === 'free' ? null : state.owner;
  let by = 'another process taking it over at the same moment';
  if (owner) by = `pid ${owner.pid} on ${owner.host} (${owner.purpose}, since ${owner.createdAt})`;
  else if (state.status === 'held') by = 'an ownerless (empty or unreadable) lock file';
  const ttlS = Math.round((options.ttlMs ?? DEFAULT_TTL_MS) / 1000);
  return new MarshalError(CORE_ERRORS.E_LOCKED, sanitizeForLog(`lock ${path} is held by ${by}`), {
    details: { path, owner, purpose: options.purpose },
    hint: owner
      ? 'wait for that operation to finish'
      : `an ownerless lock counts as stale after ${ttlS} s; remove it if nothing is running`,
  });
}
