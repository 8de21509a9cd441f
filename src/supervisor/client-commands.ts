/**
 * `status`, `restart` and `stop` of a workspace's supervisor, as a client: through its control
 * API, falling back to the `.cmd` file when the API does not answer (the supervisor polls it), and
 * to the protocol files for status when nothing runs. Every wait is bounded by a core deadline.
 */
import { sleep } from '../core/async.ts';
import { deadline } from '../core/deadline.ts';
import { MarshalError, TimeoutError } from '../core/errors.ts';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { controlEndpointOf, liveSupervisor } from './client-context.ts';
import { type ControlResponse, controlRequest, rejectedError } from './control-client.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';
import { type MetadataPaths, readSwitchStatus, writeCommand } from './protocol.ts';
import type { Workspace } from './workspace.ts';

/** A supervisor's status as a client sees it (`marshal status --json`). */
export interface StatusReport {
  running: boolean;
  pid: number | null;
  environment: string | null;
  childPid: number | null;
  /** The phase, `stopped` when nothing runs, `unknown` when the API does not answer. */
  state: string;
  restarts: number | null;
  switchStatus: unknown;
}

/** How a command reached the supervisor. */
export type CommandChannel = 'api' | 'file';

/** Outcome of a restart request. */
export interface RestartOutcome {
  pid: number;
  via: CommandChannel;
}

/** Outcome of a stop: `wasRunning: false` when no supervisor ran (nothing to do). */
export type StopOutcome =
  | { wasRunning: false; pid: null; via: null }
  | { wasRunning: true; pid: number; via: CommandChannel };

/** The supervisor's status: from its API, else from its PID file and the status file. */
export async function readStatus(
  ws: Workspace,
  paths: MetadataPaths,
  signal?: AbortSignal,
): Promise<StatusReport> {
  const live = await liveSupervisor(paths);
  const switchStatus = await readSwitchStatus(ws);
  if (!live) {
    return {
      running: false,
      pid: null,
      environment: null,
      childPid: null,
      state: 'stopped',
      restarts: 0,
      switchStatus,
    };
  }
  const res = await askApi(paths, 'GET', '/marshal/status', signal);
  if (res?.status === 200 && res.body !== null && typeof res.body === 'object') {
    return { ...(res.body as StatusReport), running: true };
  }
  // The API does not answer: what the PID file records (the engine keeps it current).
  const { environment, childPid } = live.record;
  return {
    running: true,
    pid: live.pid,
    environment: typeof environment === 'string' ? environment : null,
    childPid: typeof childPid === 'number' ? childPid : null,
    state: 'unknown',
    restarts: null,
    switchStatus,
  };
}

/** One control request, or undefined when no API is advertised or it does not answer. */
async function askApi(
  paths: MetadataPaths,
  method: 'GET' | 'POST',
  path: string,
  signal: AbortSignal | undefined,
): Promise<ControlResponse | undefined> {
  const endpoint = await controlEndpointOf(paths);
  if (!endpoint?.token) return undefined;
  try {
    return await controlRequest(endpoint, method, path, signal ? { signal } : {});
  } catch (err) {
    if (err instanceof MarshalError && err.code === 'E_CONTROL_UNREACHABLE') return undefined;
    throw err;
  }
}

/** Sends a command via the API, or via `.cmd` when the API is unreachable. Returns the channel used. */
async function sendCommand(
  ws: Workspace,
  paths: MetadataPaths,
  route: '/restart' | '/stop',
  command: 'restart' | 'shutdown',
  signal: AbortSignal | undefined,
): Promise<CommandChannel> {
  const res = await askApi(paths, 'POST', route, signal);
  if (res !== undefined) {
    if (res.status >= 200 && res.status < 300) return 'api';
    throw rejectedError(route, res);
  }
  // ComfyGit writes `reason: "manual_restart"` only with abort_switch (a ComfyUI started by hand
  // while a switch runs); `cg orch restart` sends no reason. Say who asked, truthfully.
  await writeCommand(ws, {
    command,
    reason: command === 'restart' ? 'marshal restart' : 'marshal stop',
    pid: process.pid,
  });
  return 'file';
}

/** Asks the running supervisor to restart its child; E_NO_SUPERVISOR when none runs. */
export async function requestRestart(
  ws: Workspace,
  paths: MetadataPaths,
  signal?: AbortSignal,
): Promise<RestartOutcome> {
  const live = await liveSupervisor(paths);
  if (!live) throw noSupervisor(ws);
  const via = await sendCommand(ws, paths, '/restart', 'restart', signal);
  return { pid: live.pid, via };
}

/** Asks the supervisor to stop and waits (at most `timeoutMs`) until it is gone. */
export async function requestStop(
  ws: Workspace,
  paths: MetadataPaths,
  options: { timeoutMs: number; signal?: AbortSignal },
): Promise<StopOutcome> {
  const live = await liveSupervisor(paths);
  if (!live) return { wasRunning: false, pid: null, via: null };
  const via = await sendCommand(ws, paths, '/stop', 'shutdown', options.signal);
  await waitGone(paths, live.pid, options.timeoutMs, options.signal);
  return { wasRunning: true, pid: live.pid, via };
}

/** Waits until the PID file no longer names the live supervisor `pid`. */
async function waitGone(
  paths: MetadataPaths,
  pid: number,
  timeoutMs: number,
  signal: AbortSignal | undefined,
): Promise<void> {
  const bound = deadline(timeoutMs, [signal], 'waiting for the supervisor to exit');
  try {
    for (;;) {
      if ((await liveSupervisor(paths))?.pid !== pid) return;
      await sleep(100, { signal: bound.signal });
    }
  } catch (err) {
    if (!bound.expired) throw err;
    throw new TimeoutError(`the supervisor (pid ${pid}) did not exit within ${timeoutMs / 1000} s`, {
      details: { pid, timeoutMs },
      hint: `see ${paths.orchestratorLog} and ${paths.switchLog}`,
    });
  } finally {
    bound.clear();
  }
}

/** E_NO_SUPERVISOR for a workspace. */
export function noSupervisor(ws: Workspace): MarshalError {
  return new MarshalError(
    SUPERVISOR_ERRORS.E_NO_SUPERVISOR,
    `no supervisor is running for ${sanitizeForLog(ws.root)}`,
    { details: { workspace: ws.root }, hint: 'start a supervisor for this workspace first' },
  );
}
