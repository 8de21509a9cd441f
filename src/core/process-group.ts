/**
 * Process-group primitives. Children started by {@link spawnProcess} lead their own group
 * (pgid = pid), so one signal reaches the child and everything it started.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { sleep } from './async.ts';
import { deadline } from './deadline.ts';
import { TimeoutError } from './errors.ts';

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
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we scanned
    }
    // Fields after the parenthesised command name: state, ppid, pgrp, ...
    const fields = stat
      .slice(stat.lastIndexOf(')') + 1)
      .trim()
      .split(/\s+/);
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
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

/** True once `pgid` has no running member; false if `limit` settles first. */
async function groupGone(pgid: number, limit: Promise<unknown>): Promise<boolean> {
  let late = false;
  void limit.then(() => {
    late = true;
  });
  while (isProcessGroupAlive(pgid)) {
    if (late) return false;
    await sleep(POLL_MS);
  }
  return true;
}

/**
 * Stops group `pgid` whose leader's exit is `leaderExited`: SIGTERM to the group; if the leader or
 * any other member is still running after `graceMs`, SIGKILL to the group. Resolves once the leader
 * has exited and no member runs, with `forced` telling whether SIGKILL was needed. Throws
 * TimeoutError if something survives SIGKILL for 30 s (an uninterruptible process).
 */
export async function terminateProcessGroup(
  pgid: number,
  leaderExited: Promise<unknown>,
  { graceMs = 5000, label = String(pgid) }: { graceMs?: number; label?: string } = {},
): Promise<{ forced: boolean }> {
  killProcessGroup(pgid, 'SIGTERM');
  // One grace period covers the leader and the rest of its group.
  const grace = gracePeriod(graceMs, `grace period of ${label}`);
  const first = await Promise.race([leaderExited.then(() => 'exited' as const), grace.over]);
  const forced = first === 'over' || !(await groupGone(pgid, grace.over));
  grace.cancel();
  if (!forced) return { forced };
  killProcessGroup(pgid, 'SIGKILL');
  const bound = gracePeriod(KILL_WAIT_MS, `exit of ${label} after SIGKILL`);
  const died = (await Promise.race([leaderExited.then(() => 'exited' as const), bound.over])) === 'exited';
  const gone = died && (await groupGone(pgid, bound.over));
  bound.cancel();
  if (!gone)
    throw new TimeoutError(`process group of ${label} still running ${KILL_WAIT_MS} ms after SIGKILL`);
  return { forced };
}
