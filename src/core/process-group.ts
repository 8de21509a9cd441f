/**
 * Process-group primitives. Children started by {@link spawnProcess} lead their own group
 * (pgid = pid), so one signal reaches the child and everything it started.
 */
import { sleep } from './async.ts';
import { deadline } from './deadline.ts';
import { TimeoutError } from './errors.ts';
import { listProcStats } from './process-identity.ts';

/** Bound on waiting after SIGKILL: only an uninterruptible (D-state) process can exceed it. */
const KILL_WAIT_MS = 30_000;
const POLL_MS = 20;

function validPgid(pgid: number): boolean {
  // kill(-0) and kill(-1) would address our own group or every process: never allow them.
  return Number.isSafeInteger(pgid) && pgid > 1;
}

/**
 * Sends `sig` to every process in group `pgid`. Returns false when the group no longer exists
 * (ESRCH); other errors (EPERM) are thrown.
 */
export function killProcessGroup(pgid: number, sig: NodeJS.Signals | number = 'SIGTERM'): boolean {
  if (!validPgid(pgid)) throw new RangeError(`invalid process group id ${pgid}`);
  try {
    process.kill(-pgid, sig);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** True when /proc lists a member of `pgid` that is not a zombie; undefined when /proc is unusable. */
function groupHasLiveMember(pgid: number): boolean | undefined {
  const table = listProcStats();
  if (table === undefined) return undefined;
  for (const p of table.values()) if (p.pgrp === pgid && p.live) return true;
  return false;
}

/**
 * True while group `pgid` has a running member. `kill(-pgid, 0)` alone is not enough: orphaned
 * members that died stay zombies until init reaps them, and some container inits never do, so on
 * Linux the members are confirmed through /proc.
 */
export function isProcessGroupAlive(pgid: number): boolean {
  if (!validPgid(pgid)) return false;
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (process.platform !== 'linux') return true;
  return groupHasLiveMember(pgid) ?? true;
}

/** A grace period from the core {@link deadline}: `over` resolves when it ends; `cancel` stops its timer. */
function gracePeriod(ms: number, what: string): { over: Promise<'over'>; cancel(): void } {
  const d = deadline(ms, [], what);
  const over = new Promise<'over'>((resolve) => {
    d.signal.addEventListener('abort', () => resolve('over'), { once: true });
  });
  return { over, cancel: () => d.clear() };
}

/** Something {@link terminateTarget} can stop: a process group, or a whole process tree. */
export interface TerminationTarget {
  /** Sends `sig` to every member (best effort; never throws for members that are gone). */
  signal(sig: NodeJS.Signals): void;
  /** True while a member (other than a zombie) runs. */
  alive(): boolean;
  /** Poll interval while waiting for the members to go; default 20 ms. */
  pollMs?: number;
}

/** True once `target` has no running member; false if `limit` settles first. */
async function targetGone(
  target: TerminationTarget,
  limit: Promise<unknown>,
  resignal?: NodeJS.Signals,
): Promise<boolean> {
  let late = false;
  void limit.then(() => {
    late = true;
  });
  while (target.alive()) {
    if (late) return false;
    // After SIGKILL, members forked since the last signal get one too.
    if (resignal) target.signal(resignal);
    await sleep(target.pollMs ?? POLL_MS);
  }
  return true;
}

/**
 * Stops `target` whose leader's exit is `leaderExited`: SIGTERM to every member; if the leader or
 * any other member is still running after `graceMs`, SIGKILL (repeated until none is left).
 * Resolves once the leader has exited and no member runs, with `forced` telling whether SIGKILL
 * was needed. Throws TimeoutError if something survives SIGKILL for 30 s (an uninterruptible
 * process).
 */
export async function terminateTarget(
  target: TerminationTarget,
  leaderExited: Promise<unknown>,
  { graceMs = 5000, label = 'process' }: { graceMs?: number; label?: string } = {},
): Promise<{ forced: boolean }> {
  target.signal('SIGTERM');
  // One grace period covers the leader and every other member.
  const grace = gracePeriod(graceMs, `grace period of ${label}`);
  const first = await Promise.race([leaderExited.then(() => 'exited' as const), grace.over]);
  const forced = first === 'over' || !(await targetGone(target, grace.over));
  grace.cancel();
  if (!forced) return { forced };
  target.signal('SIGKILL');
  const bound = gracePeriod(KILL_WAIT_MS, `exit of ${label} after SIGKILL`);
  const died = (await Promise.race([leaderExited.then(() => 'exited' as const), bound.over])) === 'exited';
  const gone = died && (await targetGone(target, bound.over, 'SIGKILL'));
  bound.cancel();
  if (!gone) throw new TimeoutError(`${label} still running ${KILL_WAIT_MS} ms after SIGKILL`);
  return { forced };
}

/** {@link terminateTarget} for process group `pgid` (see there). */
export function terminateProcessGroup(
  pgid: number,
  leaderExited: Promise<unknown>,
  { graceMs = 5000, label = String(pgid) }: { graceMs?: number; label?: string } = {},
): Promise<{ forced: boolean }> {
  const group: TerminationTarget = {
    signal: (sig) => {
      killProcessGroup(pgid, sig);
    },
    alive: () => isProcessGroupAlive(pgid),
  };
  return terminateTarget(group, leaderExited, { graceMs, label: `process group of ${label}` });
}
