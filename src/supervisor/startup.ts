/**
 * Start-up chores of a supervisor: refuse to run twice for one workspace, reap what a dead
 * supervisor left behind (its child's process group, when the recorded child identity still
 * matches), clean stale protocol files and close a switch status that a dead supervisor left
 * non-terminal (ComfyGit's panel would otherwise poll a `rolling_back` forever).
 */

import { readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep } from '../core/async.ts';
import { MarshalError } from '../core/errors.ts';
import { describeCappedRead, readCappedFile } from '../core/files.ts';
import { readLock, tryAcquireLock } from '../core/lock-file.ts';
import { readPidFile, removePidFile } from '../core/pid-file.ts';
import { isProcessGroupAlive, killProcessGroup } from '../core/process-group.ts';
import { isProcessAlive, processStartTime } from '../core/process-identity.ts';
import { quoteShellCommand } from '../core/shell-quote.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';
import { identityFileOf } from './pid-writer.ts';
import {
  epochSeconds,
  type MetadataPaths,
  readProtocolFile,
  type SwitchStatus,
  SwitchStatusSchema,
  TERMINAL_SWITCH_STATES,
} from './protocol.ts';
import type { SupervisorEventRecord } from './supervisor-types.ts';

type Emit = (e: SupervisorEventRecord) => void;

/** Child identity a supervisor records in its PID file (`extra`). */
export interface ChildRecord {
  childPid: number | null;
  childPgid: number | null;
  childStartTime: number | null;
}

/**
 * Checks for a previous supervisor: marshal's identity file (`.orchestrator.pid.marshal.json`)
 * first, else `.orchestrator.pid` (ComfyGit's plain pid, or the JSON record of an older marshal).
 * A live supervisor -> E_SUPERVISOR_RUNNING; a dead one -> its child group is reaped (only if the
 * recorded child is still that very process, or its leader is gone and members remain) and its
 * files removed; a corrupt file is reported and removed.
 */
export async function checkPreviousSupervisor(
  paths: MetadataPaths,
  graceMs: number,
  emit: Emit,
): Promise<void> {
  const identity = identityFileOf(paths.orchestratorPid);
  for (const file of [identity, paths.orchestratorPid]) {
    if (!(await screenStartupFile(file, emit))) continue;
    const state = await readPidFile(file);
    if (state.status === 'missing') continue;
    if (state.status === 'corrupt') {
      emit({ type: 'protocol_issue', at: Date.now(), file, problem: 'corrupt PID file (removed)' });
      await unlink(file).catch(() => undefined);
      continue;
    }
    if (state.status === 'alive') throw supervisorRunning(paths, state.record.pid, state.record);
    const rec = state.record as unknown as Partial<ChildRecord>;
    await reapLeftover(rec, graceMs, emit);
    await removePidFile(file, { alsoStale: true });
    if (state.reason === 'pid_reused') {
      emit({
        type: 'warning',
        at: Date.now(),
        message: `PID ${state.record.pid} in ${file} now belongs to another process; treated as stale`,
      });
    }
  }
}

/** Largest PID or lock file read at start (real ones are under 1 KiB). */
const MAX_STARTUP_FILE_BYTES = 64 * 1024;

/**
 * Reads a PID or lock file of `.metadata/` through the capped reader first (no symlink followed,
 * no blocking open, regular files of at most 64 KiB): anything else there (a FIFO that would wedge
 * a plain read, a `/dev/zero` symlink, a huge file) is not a record: reported and removed. True
 * when the file is missing or fit to be read.
 */
export async function screenStartupFile(file: string, emit: Emit): Promise<boolean> {
  const read = await readCappedFile(file, { maxBytes: MAX_STARTUP_FILE_BYTES, noFollow: true });
  if (read.kind === 'ok' || read.kind === 'missing') return true;
  emit({
    type: 'protocol_issue',
    at: Date.now(),
    file,
    problem: `${describeCappedRead(read)} (removed)`,
  });
  await unlink(file).catch(() => undefined);
  return false;
}

/** E_SUPERVISOR_RUNNING for the supervisor `pid` of a workspace. */
export function supervisorRunning(paths: MetadataPaths, pid: number | null, record?: unknown): MarshalError {
  return new MarshalError(
    SUPERVISOR_ERRORS.E_SUPERVISOR_RUNNING,
    `a supervisor (pid ${pid ?? '?'}) is already running for ${paths.dir}`,
    {
      details: { pid, record },
      hint: 'use `marshal status`, `marshal stop` or `marshal switch`',
    },
  );
}

async function reapLeftover(rec: Partial<ChildRecord>, graceMs: number, emit: Emit): Promise<void> {
  const pid = typeof rec.childPid === 'number' ? rec.childPid : null;
  const pgid = typeof rec.childPgid === 'number' ? rec.childPgid : pid;
  if (pid === null || pgid === null || pgid <= 1) return;
  const leaderAlive = isProcessAlive(pid);
  const sameLeader =
    leaderAlive && rec.childStartTime != null && processStartTime(pid) === rec.childStartTime;
  // Leader alive but a different process (PID reused): not ours, leave it alone. Leader gone: the
  // group id cannot have been handed to a new group (that needs a leader with that PID).
  const ours = sameLeader || (!isProcessAlive(pgid) && isProcessGroupAlive(pgid));
  if (!ours || !isProcessGroupAlive(pgid)) return;
  killProcessGroup(pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isProcessGroupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (isProcessGroupAlive(pgid)) killProcessGroup(pgid, 'SIGKILL');
  emit({ type: 'reaped', at: Date.now(), pid, pgid, reason: 'left behind by a supervisor that is gone' });
}

/** Removes claim files (`*.taken.<pid>.*`) and temp files of processes that are gone. */
export async function cleanStaleFiles(paths: MetadataPaths): Promise<void> {
  let names: string[];
  try {
    names = await readdir(paths.dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /\.(?:taken|tmp)\.(\d+)(?:\.|$)/.exec(name) ?? /^\..*\.(\d+)\.[0-9a-f]+\.tmp$/.exec(name);
    const pid = m?.[1] === undefined ? undefined : Number(m[1]);
    if (pid !== undefined && !isProcessAlive(pid)) await unlink(join(paths.dir, name)).catch(() => undefined);
  }
}

/**
 * Returns the status file content; a corrupt one is removed, and a non-terminal one left by a
 * supervisor that is gone is closed as `failed` (the caller writes it) when `closeStale`.
 */
export async function inspectSwitchStatus(
  paths: MetadataPaths,
  emit: Emit,
): Promise<{ status: SwitchStatus | null; staleNonTerminal: boolean }> {
  const read = await readProtocolFile(paths.switchStatus, SwitchStatusSchema);
  if (read.status === 'missing') return { status: null, staleNonTerminal: false };
  if (read.status === 'bad') {
    emit({
      type: 'protocol_issue',
      at: Date.now(),
      file: paths.switchStatus,
      problem: `${read.problem} (removed)`,
    });
    await unlink(paths.switchStatus).catch(() => undefined);
    return { status: null, staleNonTerminal: false };
  }
  const s = read.value;
  if (TRANSIENT_SWITCH_STATES.has(s.state)) {
    // Left by a supervisor that is gone (we own the workspace now): over, as ComfyGit's would be.
    await unlink(paths.switchStatus).catch(() => undefined);
    return { status: null, staleNonTerminal: false };
  }
  return { status: s, staleNonTerminal: !TERMINAL_SWITCH_STATES.has(s.state) && s.state !== 'idle' };
}

/**
 * The status that closes a switch interrupted by its supervisor's death, in a state the panel
 * treats as final: `rolled_back` when this supervisor starts the switch's source again, else
 * `critical_failure` with the command that brings the last good environment back.
 */
export function interruptedStatus(prev: SwitchStatus, env: string, workspaceRoot: string): SwitchStatus {
  const base = {
    progress: 100,
    updated_at: epochSeconds(),
    target_env: prev.target_env ?? null,
    source_env: prev.source_env ?? null,
    error: `interrupted in state ${prev.state} (its supervisor is gone)`,
  };
  if (prev.source_env && prev.source_env === env) {
    return {
      ...base,
      state: 'rolled_back',
      message: `Switch to ${prev.target_env ?? '?'} was interrupted; back on ${env}`,
    };
  }
  const recover = prev.source_env || prev.target_env || env;
  return {
    ...base,
    state: 'critical_failure',
    message: `Switch to ${prev.target_env ?? '?'} was interrupted (its supervisor is gone)`,
    recovery_command: quoteShellCommand([
      'marshal',
      'supervise',
      '--workspace',
      workspaceRoot,
      '--env',
      recover,
    ]),
  };
}

/** Statuses that are over once their supervisor is gone (ComfyGit deletes them after a few seconds). */
export const TRANSIENT_SWITCH_STATES: ReadonlySet<string> = new Set(['complete', 'aborted', 'recovering']);

/**
 * Removes a switch lock whose owner is dead (or whose pid was reused, or that outlived its TTL):
 * taken over and released through the core lock, so a live owner's lock is never touched. A
 * fresh ownerless (empty) lock is the panel's and stays.
 */
export async function clearStaleSwitchLock(paths: MetadataPaths, ttlMs: number, emit: Emit): Promise<void> {
  if (!(await screenStartupFile(paths.switchLock, emit))) return;
  const before = await readLock(paths.switchLock, { ttlMs });
  if (before.status !== 'stale') return;
  const handle = await tryAcquireLock(paths.switchLock, { ttlMs, purpose: 'stale switch lock cleanup' });
  if (!handle) return;
  await handle.release();
  const who = before.owner ? `pid ${before.owner.pid} on ${before.owner.host}` : 'no owner';
  emit({
    type: 'protocol_issue',
    at: Date.now(),
    file: paths.switchLock,
    problem: `stale switch lock (${before.reason}; ${who}) removed`,
  });
}
