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
import { readPidFile, removePidFile } from '../core/pid-file.ts';
import { isProcessGroupAlive, killProcessGroup } from '../core/process-group.ts';
import { isProcessAlive, processStartTime } from '../core/process-identity.ts';
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
  return { status: s, staleNonTerminal: !TERMINAL_SWITCH_STATES.has(s.state) && s.state !== 'idle' };
}

/** The `failed` status that closes a switch interrupted by a supervisor's death. */
export function interruptedStatus(prev: SwitchStatus): SwitchStatus {
  return {
    state: 'failed',
    progress: 100,
    message: `Switch to ${prev.target_env ?? '?'} was interrupted (its supervisor is gone)`,
    updated_at: epochSeconds(),
    target_env: prev.target_env ?? null,
    source_env: prev.source_env ?? null,
    error: `interrupted in state ${prev.state}`,
  };
}
