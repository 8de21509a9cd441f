/**
 * The switch lock (`.metadata/.switch.lock`) as the supervisor holds it: exclusive create with
 * owner identity (core lock-file), stale when the owner is dead or the lock is older than the TTL,
 * heartbeated while held (so a long sync never makes it look stale), and adopting the ownerless
 * empty lock ComfyGit's panel leaves before it exits 43.
 */
import { describeCappedRead, readCappedFile } from '../core/files.ts';
import { readLock, tryAcquireLock } from '../core/lock-file.ts';
import type { LockHandle } from '../core/lock-handle.ts';

/** Result of {@link SwitchLock.acquire}. */
export type LockOutcome =
  | { ok: true; adoptedEmpty: boolean; already: boolean }
  | { ok: false; reason: string };

/** The switch lock held by one supervisor (see the module comment). */
export class SwitchLock {
  #handle: LockHandle | null = null;
  readonly #path: string;
  readonly #ttlMs: number;
  readonly #onWarning: (message: string) => void;

  constructor(path: string, ttlMs: number, onWarning: (message: string) => void) {
    this.#path = path;
    this.#ttlMs = ttlMs;
    this.#onWarning = onWarning;
  }

  get held(): boolean {
    return this.#handle !== null;
  }

  /**
   * Takes the lock for a switch to `target` (or keeps it when already held). `forRequest`: the
   * switch comes from a `.switch_request.json`, so an ownerless empty lock is the panel's, made
   * for that very request, and is adopted; any other switch (the API's) leaves a fresh empty lock
   * alone: the panel is about to write its request.
   */
  async acquire(target: string, { forRequest }: { forRequest: boolean }): Promise<LockOutcome> {
    if (this.#handle) return { ok: true, adoptedEmpty: false, already: true };
    // Untrusted: a FIFO or symlink planted as the lock would wedge or mislead the lock's reader.
    const peek = await readCappedFile(this.#path, { maxBytes: 64 * 1024, noFollow: true });
    if (peek.kind !== 'ok' && peek.kind !== 'missing') {
      return { ok: false, reason: `${this.#path} is unusable: ${describeCappedRead(peek)}` };
    }
    const opts = { ttlMs: this.#ttlMs, adoptEmpty: forRequest };
    const before = await readLock(this.#path, opts);
    const handle = await tryAcquireLock(this.#path, { ...opts, purpose: `switch to ${target}` });
    if (!handle) {
      const now = await readLock(this.#path, opts);
      const owner = now.status === 'free' ? null : now.owner;
      return {
        ok: false,
        reason: owner
          ? `switch lock held by pid ${owner.pid} on ${owner.host} (${owner.purpose})`
          : 'switch lock is held',
      };
    }
    this.#handle = handle;
    handle.startHeartbeat(Math.max(1000, Math.floor(this.#ttlMs / 4)), {
      onLost: () => this.#onWarning('the switch lock was taken over by another process'),
      onError: (err) => this.#onWarning(`switch lock heartbeat failed: ${String(err)}`),
    });
    return { ok: true, adoptedEmpty: before.status === 'stale' && before.reason === 'empty', already: false };
  }

  /** Releases the lock if held (only ever removes our own lock). */
  async release(): Promise<void> {
    const handle = this.#handle;
    this.#handle = null;
    if (handle) await handle.release();
  }
}
