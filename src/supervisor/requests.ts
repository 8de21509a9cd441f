/**
 * Requests reaching a running supervisor: `.switch_request.json` (after an exit 43, or found by
 * the watcher), `.cmd` commands, and the API's switchTo. All file takes and lock acquisitions run
 * through `runtime.serial`, so two paths never both act on one request.
 */

import { stat } from 'node:fs/promises';
import { MarshalError } from '../core/errors.ts';
import { validateEnvironmentName } from './environment.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';
import {
  epochSeconds,
  readProtocolFile,
  type SwitchRequest,
  SwitchRequestSchema,
  takeCommand,
  takeSwitchRequest,
} from './protocol.ts';
import type { Runtime } from './runtime.ts';
import { activeSwitch, isFinal } from './state-machine.ts';

/** Why a request cannot be used, or null when it is fine. */
function requestProblem(rt: Runtime, req: SwitchRequest): string | null {
  try {
    validateEnvironmentName(req.target_env, 'target_env');
  } catch (err) {
    return (err as Error).message;
  }
  const ageS = epochSeconds() - req.timestamp;
  if (ageS * 1000 > rt.settings.lockTtlMs) return `stale request (${Math.round(ageS)} s old)`;
  return null;
}

/** Dispatches a switch whose lock we hold; releases the lock when the machine did not take it. */
async function startSwitch(
  rt: Runtime,
  target: string,
  source: string | null,
  immediate: boolean,
): Promise<boolean> {
  await rt.dispatch({ type: 'switch_requested', target, source, immediate });
  if (activeSwitch(rt.state) !== null || rt.state.kind === 'awaiting_request') return true;
  await rt.lock.release();
  return false;
}

/** After an exit 43: take the request, lock, switch; or report it unavailable (restart the same env). */
export function takeRequestAfterExit43(rt: Runtime): Promise<void> {
  return rt.serial(async () => {
    if (rt.state.kind !== 'awaiting_request') return;
    const read = await takeSwitchRequest(rt.ws);
    const unavailable = (reason: string) => void rt.dispatch({ type: 'request_unavailable', reason });
    if (read.status === 'missing') return unavailable('no .switch_request.json');
    if (read.status === 'bad') {
      rt.emit({
        type: 'protocol_issue',
        at: Date.now(),
        file: rt.paths.switchRequest,
        problem: `${read.problem} (removed)`,
      });
      return unavailable(read.problem);
    }
    const problem = requestProblem(rt, read.value);
    if (problem) {
      rt.emit({ type: 'switch_refused', at: Date.now(), target: read.value.target_env, reason: problem });
      return unavailable(problem);
    }
    const lock = await rt.lock.acquire(read.value.target_env, { forRequest: true });
    if (!lock.ok) {
      rt.emit({ type: 'switch_refused', at: Date.now(), target: read.value.target_env, reason: lock.reason });
      return unavailable(lock.reason);
    }
    await startSwitch(rt, read.value.target_env, read.value.source_env ?? null, true);
  });
}

/** Fingerprint of a bad request file seen once (removed only if still the same on the next poll). */
const badSeen = new WeakMap<Runtime, string>();

/**
 * Watcher: a request file written while the child runs (CLI, or ComfyGit's panel before it exits
 * 43). Order: read it where it lies, take the lock, then claim it and dispatch at once, so the file
 * stays visible until the switch shows in the state. A bad file is removed only when it is still
 * the same bad file on the next poll (ComfyGit writes it non-atomically: never eat a half-write).
 */
export function pollSwitchRequest(rt: Runtime): Promise<void> {
  return rt.serial(async () => {
    const st = rt.state;
    // During a switch the file is left alone: it may be the new child's own request, read after its exit 43.
    if (
      isFinal(st) ||
      st.kind === 'idle' ||
      st.kind === 'stopping' ||
      st.kind === 'awaiting_request' ||
      activeSwitch(st)
    )
      return;
    const path = rt.paths.switchRequest;
    const peek = await readProtocolFile(path, SwitchRequestSchema);
    if (peek.status === 'missing') return;
    if (peek.status === 'bad') {
      const seen = await stat(path).then(
        (s) => `${peek.problem}|${s.size}|${s.mtimeMs}`,
        () => '',
      );
      if (badSeen.get(rt) !== seen) {
        badSeen.set(rt, seen);
        return;
      }
      badSeen.delete(rt);
      const taken = await takeSwitchRequest(rt.ws);
      if (taken.status === 'bad')
        rt.emit({
          type: 'protocol_issue',
          at: Date.now(),
          file: path,
          problem: `${taken.problem} (removed)`,
        });
      return;
    }
    const target = peek.value.target_env;
    const problem = requestProblem(rt, peek.value);
    const lock = problem ? null : await rt.lock.acquire(target, { forRequest: true });
    const read = await takeSwitchRequest(rt.ws);
    const same =
      read.status === 'ok' &&
      read.value.target_env === target &&
      read.value.timestamp === peek.value.timestamp;
    if (!same) {
      // Rewritten between the read and the claim: drop the lock; a changed request is reported.
      if (lock?.ok) await rt.lock.release();
      if (read.status !== 'missing') {
        rt.emit({
          type: 'protocol_issue',
          at: Date.now(),
          file: path,
          problem: 'request changed while it was read (dropped)',
        });
      }
      return;
    }
    const reason = problem ?? (lock && !lock.ok ? lock.reason : null);
    rt.emit({
      type: 'command',
      at: Date.now(),
      command: 'switch',
      source: 'file',
      accepted: reason === null,
      detail: reason ?? target,
    });
    if (reason !== null || !lock?.ok) {
      rt.emit({ type: 'switch_refused', at: Date.now(), target, reason: reason ?? 'lock' });
      return;
    }
    // An adopted empty lock is ComfyGit's panel: it exits 43 by itself in ~2 s, give it the chance.
    await startSwitch(rt, target, peek.value.source_env ?? null, !lock.adoptedEmpty);
  });
}

/** Watcher: one `.cmd` command (stale ones, older than this supervisor, are dropped). */
export async function pollCommand(rt: Runtime, startedAtMs: number): Promise<void> {
  if (isFinal(rt.state)) return;
  const read = await takeCommand(rt.ws);
  if (read.status === 'missing') return;
  if (read.status === 'bad') {
    rt.emit({
      type: 'protocol_issue',
      at: Date.now(),
      file: rt.paths.cmd,
      problem: `${read.problem} (removed)`,
    });
    return;
  }
  const cmd = read.value;
  if (cmd.timestamp * 1000 < startedAtMs - 1000) {
    rt.emit({
      type: 'command',
      at: Date.now(),
      command: cmd.command,
      source: 'file',
      accepted: false,
      detail: 'older than this supervisor',
    });
    return;
  }
  const before = rt.state;
  await rt.dispatch(
    cmd.command === 'restart'
      ? { type: 'restart_requested' }
      : { type: 'stop_requested', reason: cmd.command === 'shutdown' ? 'shutdown' : 'abort_switch' },
  );
  rt.emit({
    type: 'command',
    at: Date.now(),
    command: cmd.command,
    source: 'file',
    accepted: rt.state !== before,
    ...(cmd.reason ? { detail: cmd.reason } : {}),
  });
}

/** The API's switch: validate, refuse when busy, lock, dispatch. */
export async function switchTo(rt: Runtime, target: string): Promise<void> {
  const stoppedError = () =>
    new MarshalError(
      SUPERVISOR_ERRORS.E_SUPERVISOR_STOPPED,
      `cannot switch to ${target}: the supervisor is stopping`,
      {
        details: { target },
      },
    );
  if (rt.finished || isFinal(rt.state) || rt.state.kind === 'stopping') throw stoppedError();
  validateEnvironmentName(target, 'target');
  await rt.loadSpec(target);
  await rt.serial(async () => {
    const st = rt.state;
    if (isFinal(st) || st.kind === 'stopping') throw stoppedError();
    const sw = activeSwitch(st);
    if (sw) throw switchInProgress(`a switch to ${sw.target} is in progress`);
    if (st.kind === 'awaiting_request') throw switchInProgress('the child asked for a switch (exit 43)');
    const lock = await rt.lock.acquire(target, { forRequest: false });
    if (!lock.ok) throw switchInProgress(lock.reason);
    rt.emit({
      type: 'command',
      at: Date.now(),
      command: 'switch',
      source: 'api',
      accepted: true,
      detail: target,
    });
    if (!(await startSwitch(rt, target, st.ctx.env, true))) throw stoppedError();
  });
}

/** E_SWITCH_IN_PROGRESS with the reason. */
export function switchInProgress(reason: string): MarshalError {
  return new MarshalError(SUPERVISOR_ERRORS.E_SWITCH_IN_PROGRESS, `cannot switch: ${reason}`, {
    details: { reason },
    hint: 'wait for the current switch to end (marshal status shows it)',
  });
}
