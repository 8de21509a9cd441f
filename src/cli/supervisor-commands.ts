/**
 * `marshal status`, `marshal restart`, `marshal stop`: talk to the running supervisor through its
 * control API, falling back to the `.cmd` file when the API does not answer (the supervisor polls
 * it), and to the protocol files for status when nothing runs.
 */

import { sleep, timeoutSignal } from '../core/async.ts';
import { MarshalError, TimeoutError } from '../core/errors.ts';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { readPidFile } from '../core/pid-file.ts';
import { type ControlResponse, controlRequest, rejectedError } from '../supervisor/control-client.ts';
import { SUPERVISOR_ERRORS } from '../supervisor/errors.ts';
import { type MetadataPaths, readSwitchStatus, writeCommand } from '../supervisor/protocol.ts';
import type { Workspace } from '../supervisor/workspace.ts';
import { type CommandContext, type CommandSpec, numberOption } from './command.ts';
import { printJson, println, styler, useColor } from './io.ts';
import {
  controlEndpointOf,
  liveSupervisor,
  resolveWorkspace,
  WORKSPACE_OPTION,
} from './supervisor-context.ts';

/** What `status --json` prints. */
export interface StatusReport {
  running: boolean;
  pid: number | null;
  environment: string | null;
  childPid: number | null;
  state: string;
  restarts: number | null;
  switchStatus: unknown;
}

/** The supervisor's status: from its API, else from its PID file and the status file. */
export async function readStatus(
  ws: Workspace,
  paths: MetadataPaths,
  signal: AbortSignal,
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
  const res = await askApi(paths, 'GET', '/status', undefined, signal);
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
  body: unknown,
  signal: AbortSignal,
): Promise<ControlResponse | undefined> {
  const endpoint = await controlEndpointOf(paths);
  if (!endpoint?.token) return undefined;
  try {
    return await controlRequest(endpoint, method, path, { signal, ...(body === undefined ? {} : { body }) });
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
  signal: AbortSignal,
): Promise<'api' | 'file'> {
  const res = await askApi(paths, 'POST', route, undefined, signal);
  if (res !== undefined) {
    if (res.status >= 200 && res.status < 300) return 'api';
    throw rejectedError(route, res);
  }
  await writeCommand(ws, { command, reason: 'manual_restart', pid: process.pid });
  return 'file';
}

const status: CommandSpec = {
  name: 'status',
  summary: "show the workspace supervisor's state",
  usage: 'status [--workspace <dir>] [--json]',
  options: {
    workspace: WORKSPACE_OPTION,
    json: {
      type: 'boolean',
      description: 'print {running, pid, environment, childPid, state, restarts, switchStatus}',
    },
  },
  examples: ['marshal status', 'marshal status --json'],
  async run(ctx) {
    const { ws, paths } = await resolveWorkspace(ctx);
    const report = await readStatus(ws, paths, ctx.signal);
    if (ctx.values.json) {
      printJson(ctx.io, report);
      return 0;
    }
    const s = styler(useColor(ctx.io, 'stdout'));
    const out = ctx.io.stdout;
    if (!report.running) println(out, `supervisor: ${s.dim('not running')} (${sanitizeForLog(ws.root)})`);
    else {
      println(
        out,
        `supervisor: ${s.green('running')} pid ${report.pid}, environment ${s.bold(sanitizeForLog(String(report.environment)))}`,
      );
      println(
        out,
        `state:      ${s.bold(sanitizeForLog(report.state))}, child pid ${report.childPid ?? '-'}, restarts ${report.restarts ?? '?'}`,
      );
    }
    const sw = report.switchStatus as {
      state?: unknown;
      progress?: unknown;
      message?: unknown;
      error?: unknown;
    } | null;
    if (sw) {
      const err = typeof sw.error === 'string' && sw.error ? ` (${sanitizeForLog(sw.error)})` : '';
      println(
        out,
        `switch:     ${sanitizeForLog(String(sw.state))} ${String(sw.progress)}%: ${sanitizeForLog(String(sw.message))}${err}`,
      );
    }
    return 0;
  },
};

const restart: CommandSpec = {
  name: 'restart',
  summary: 'restart the supervised server (sync, start, readiness)',
  usage: 'restart [--workspace <dir>]',
  options: { workspace: WORKSPACE_OPTION },
  exitCodes: [[1, 'no supervisor is running, or it refused the request']],
  async run(ctx) {
    const { ws, paths } = await resolveWorkspace(ctx);
    const live = await liveSupervisor(paths);
    if (!live) throw noSupervisor(ws);
    const via = await sendCommand(ws, paths, '/restart', 'restart', ctx.signal);
    println(
      ctx.io.stderr,
      `restart requested (supervisor pid ${live.pid}, via ${via === 'api' ? 'control API' : '.cmd'})`,
    );
    return 0;
  },
};

const stop: CommandSpec = {
  name: 'stop',
  summary: 'stop the supervisor and its server, and wait until they are gone',
  usage: 'stop [--workspace <dir>] [--timeout <s>]',
  options: {
    workspace: WORKSPACE_OPTION,
    timeout: {
      type: 'string',
      valueName: 's',
      description: 'how long to wait for the supervisor to exit',
      defaultText: '30',
    },
  },
  exitCodes: [[1, 'the supervisor did not exit in time, or refused the request']],
  async run(ctx) {
    const timeoutS = numberOption(ctx.values, 'timeout', { min: 0.1, max: 3600 }) ?? 30;
    const { ws, paths } = await resolveWorkspace(ctx);
    const live = await liveSupervisor(paths);
    if (!live) {
      println(ctx.io.stderr, 'no supervisor is running');
      return 0;
    }
    const via = await sendCommand(ws, paths, '/stop', 'shutdown', ctx.signal);
    println(
      ctx.io.stderr,
      `stop requested (supervisor pid ${live.pid}, via ${via === 'api' ? 'control API' : '.cmd'})`,
    );
    await waitGone(paths, live.pid, timeoutS * 1000, ctx);
    println(ctx.io.stderr, 'supervisor stopped');
    return 0;
  },
};

/** Waits until the PID file no longer names a live supervisor. */
async function waitGone(
  paths: MetadataPaths,
  pid: number,
  timeoutMs: number,
  ctx: CommandContext,
): Promise<void> {
  const bound = timeoutSignal(timeoutMs, ctx.signal);
  try {
    for (;;) {
      const state = await readPidFile(paths.orchestratorPid);
      if (state.status !== 'alive' || state.record.pid !== pid) return;
      await sleep(100, { signal: bound });
    }
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    throw new TimeoutError(`the supervisor (pid ${pid}) did not exit within ${timeoutMs / 1000} s`, {
      details: { pid, timeoutMs },
      hint: `see ${paths.orchestratorLog} and ${paths.switchLog}`,
    });
  }
}

function noSupervisor(ws: Workspace): MarshalError {
  return new MarshalError(
    SUPERVISOR_ERRORS.E_NO_SUPERVISOR,
    `no supervisor is running for ${sanitizeForLog(ws.root)}`,
    {
      hint: 'start one with: marshal supervise --env <name> --detach',
    },
  );
}

export const supervisorCommands: CommandSpec[] = [status, restart, stop];
