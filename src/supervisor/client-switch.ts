/**
 * Asking for a switch as a client, in this order:
 * - a supervisor runs and its control API answers: POST /switch (a switch already under way is
 *   refused at once with 409 -> E_SWITCH_IN_PROGRESS);
 * - a supervisor runs but its API does not answer: `.switch_request.json` is written (the
 *   supervisor polls for it), unless `.switch.lock` is held;
 * - nothing runs (lazy supervision): the request is written and a supervisor is started detached
 *   for the target; it finds the request at start. A supervised process never starts one.
 *
 * With `wait`, the client follows `.switch_status.json` until THIS request ends: a status for the
 * same target written after the request was made (an earlier switch's leftover never counts).
 */
import { sleep } from '../core/async.ts';
import { deadline } from '../core/deadline.ts';
import { MarshalError, TimeoutError } from '../core/errors.ts';
import { readLock } from '../core/lock-file.ts';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { controlEndpointOf, isSupervisedProcess, liveSupervisor } from './client-context.ts';
import { controlRequest, rejectedError } from './control-client.ts';
import { SUPERVISOR_ERRORS, type SupervisorErrorCode } from './errors.ts';
import {
  epochSeconds,
  type MetadataPaths,
  readSwitchStatus,
  type SwitchStatus,
  TERMINAL_SWITCH_STATES,
  writeSwitchRequest,
} from './protocol.ts';
import type { Workspace } from './workspace.ts';

/** How a switch request reached the supervisor. */
export type SwitchChannel = 'api' | 'file' | 'lazy' | 'file-supervised';

/** What {@link requestSwitch} did. */
export interface SwitchRequestOutcome {
  via: SwitchChannel;
  supervisorPid: number | null;
  /** Epoch seconds of the request (statuses older than this are not its outcome). */
  requestedAt: number;
}

/** Sends the request (see the module comment); `startLazy` starts a supervisor for the target. */
export async function requestSwitch(
  ws: Workspace,
  paths: MetadataPaths,
  target: string,
  options: { env: Readonly<Record<string, string | undefined>>; signal?: AbortSignal },
  startLazy: () => Promise<number>,
): Promise<SwitchRequestOutcome> {
  const requestedAt = epochSeconds();
  const live = await liveSupervisor(paths);
  if (live) {
    const endpoint = await controlEndpointOf(paths);
    if (endpoint?.token) {
      const res = await controlRequest(endpoint, 'POST', '/switch', {
        body: { target },
        ...(options.signal ? { signal: options.signal } : {}),
      }).catch((err: unknown) => {
        if (err instanceof MarshalError && err.code === 'E_CONTROL_UNREACHABLE') return undefined;
        throw err;
      });
      if (res !== undefined) {
        if (res.status >= 200 && res.status < 300)
          return { via: 'api', supervisorPid: live.pid, requestedAt };
        const body = res.body as { error?: unknown; message?: unknown } | undefined;
        if (res.status === 409)
          throw inProgress(typeof body?.message === 'string' ? body.message : undefined);
        const spec =
          typeof body?.error === 'string' && Object.hasOwn(SUPERVISOR_ERRORS, body.error)
            ? SUPERVISOR_ERRORS[body.error as SupervisorErrorCode]
            : undefined;
        if (res.status === 400 && spec !== undefined) {
          throw new MarshalError(spec, sanitizeForLog(String(body?.message ?? body?.error)), {
            details: { target },
          });
        }
        throw rejectedError('/switch', res);
      }
    }
    await assertNoSwitchLock(paths);
    const source = typeof live.record.environment === 'string' ? live.record.environment : null;
    await writeSwitchRequest(ws, { target_env: target, source_env: source, timestamp: requestedAt });
    return { via: 'file', supervisorPid: live.pid, requestedAt };
  }
  await assertNoSwitchLock(paths);
  await writeSwitchRequest(ws, { target_env: target, source_env: null, timestamp: requestedAt });
  if (isSupervisedProcess(options.env)) return { via: 'file-supervised', supervisorPid: null, requestedAt };
  return { via: 'lazy', supervisorPid: await startLazy(), requestedAt };
}

async function assertNoSwitchLock(paths: MetadataPaths): Promise<void> {
  const lock = await readLock(paths.switchLock);
  if (lock.status === 'held') {
    const owner = lock.owner ? ` (held by pid ${lock.owner.pid})` : '';
    throw inProgress(`${paths.switchLock} is held${owner}`);
  }
}

function inProgress(detail?: string): MarshalError {
  return new MarshalError(
    SUPERVISOR_ERRORS.E_SWITCH_IN_PROGRESS,
    `another environment switch is in progress${detail ? `: ${sanitizeForLog(detail)}` : ''}`,
    { hint: 'wait for it to finish (see the supervisor status), then ask again' },
  );
}

/** Options of {@link waitForSwitch}. */
export interface WaitForSwitchOptions {
  target: string;
  requestedAt: number;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Called once per new state of this request's status. */
  onProgress?: (status: SwitchStatus) => void;
  /** Poll interval (default 100 ms). */
  pollMs?: number;
}

/**
 * Polls the status file until this request's switch reaches a terminal state. A supervisor that
 * died mid-switch never writes one: after about 2 s without a live supervisor, E_SWITCH_FAILED.
 * The time bound gives a TimeoutError with exit code 4.
 */
export async function waitForSwitch(
  ws: Workspace,
  paths: MetadataPaths,
  options: WaitForSwitchOptions,
): Promise<SwitchStatus> {
  const { target, requestedAt, timeoutMs } = options;
  const bound = deadline(timeoutMs, [options.signal], `the switch to ${target}`);
  let lastState = '';
  let goneChecks = 0;
  try {
    for (;;) {
      const st = await readSwitchStatus(ws);
      const ours = st !== null && st.target_env === target && st.updated_at >= requestedAt;
      if (ours && st.state !== lastState) {
        lastState = st.state;
        options.onProgress?.(st);
      }
      if (ours && TERMINAL_SWITCH_STATES.has(st.state)) return st;
      if (!(await liveSupervisor(paths))) {
        goneChecks++;
        if (goneChecks > 20) {
          throw new MarshalError(
            SUPERVISOR_ERRORS.E_SWITCH_FAILED,
            `no supervisor is running; the switch to ${sanitizeForLog(target)} did not finish`,
            { details: { target, lastState: lastState || null }, hint: `see ${paths.orchestratorLog}` },
          );
        }
      } else goneChecks = 0;
      await sleep(options.pollMs ?? 100, { signal: bound.signal });
    }
  } catch (err) {
    if (!bound.expired) throw err;
    throw new TimeoutError(
      `the switch to ${sanitizeForLog(target)} did not end within ${timeoutMs / 1000} s`,
      { details: { target, lastState: lastState || null, timeoutMs }, exitCode: 4 },
    );
  } finally {
    bound.clear();
  }
}
