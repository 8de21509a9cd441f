/**
 * `marshal switch <env> [--wait] [--json]`: switch the supervised server to another environment.
 *
 * - A supervisor runs and its control API answers: POST /switch (a switch already under way is
 *   refused at once with 409 -> exit 6).
 * - A supervisor runs but its API does not answer: `.switch_request.json` is written (the
 *   supervisor polls for it), unless `.switch.lock` is held (exit 6).
 * - Nothing runs (lazy supervision): the request is written and a supervisor is started detached
 *   for the target; it finds the request at start. A supervised process never starts one.
 *
 * With --wait, the command follows `.switch_status.json` until THIS request ends: a status for the
 * same target written after the request was made (an earlier switch's leftover never counts).
 */

import { sleep, timeoutSignal } from '../core/async.ts';
import { MarshalError, TimeoutError } from '../core/errors.ts';
import { readLock } from '../core/lock-file.ts';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { controlRequest, rejectedError } from '../supervisor/control-client.ts';
import { loadEnvironment } from '../supervisor/environment.ts';
import { SUPERVISOR_ERRORS, type SupervisorErrorCode } from '../supervisor/errors.ts';
import {
  epochSeconds,
  type MetadataPaths,
  readSwitchStatus,
  type SwitchStatus,
  TERMINAL_SWITCH_STATES,
  writeSwitchRequest,
} from '../supervisor/protocol.ts';
import type { Workspace } from '../supervisor/workspace.ts';
import { type CommandContext, type CommandSpec, numberOption } from './command.ts';
import { printJson, println } from './io.ts';
import {
  controlEndpointOf,
  isSupervisedProcess,
  liveSupervisor,
  resolveWorkspace,
  WORKSPACE_OPTION,
  type WorkspaceContext,
} from './supervisor-context.ts';
import { startDetached } from './supervisor-start.ts';

type Via = 'api' | 'file' | 'lazy' | 'file-supervised';

export const switchCommand: CommandSpec = {
  name: 'switch',
  summary: 'switch the supervised server to another environment (rolls back if it does not come up)',
  usage:
    'switch <env> [--workspace <dir>] [--wait] [--timeout <s>] [--json] [-- <server args for a lazy start>]',
  options: {
    workspace: WORKSPACE_OPTION,
    wait: {
      type: 'boolean',
      short: 'w',
      description: 'wait until this switch ends; exit 0 only on complete',
    },
    timeout: { type: 'string', valueName: 's', description: 'bound on --wait', defaultText: '600' },
    json: { type: 'boolean', description: 'print {target, via, supervisorPid, state, status} as JSON' },
  },
  positionals: { min: 1, max: 1, names: '<env>' },
  passThrough: true,
  exitCodes: [
    [0, 'switch requested (with --wait: completed)'],
    [2, 'unknown or invalid environment'],
    [4, 'with --wait: the switch ended rolled_back, failed, critical_failure or aborted'],
    [6, 'another switch is in progress'],
  ],
  examples: ['marshal switch staging --wait', 'marshal switch prod --json'],
  async run(ctx) {
    const target = ctx.positionals[0]!;
    const timeoutS = numberOption(ctx.values, 'timeout', { min: 0.1, max: 86_400 }) ?? 600;
    const wctx = await resolveWorkspace(ctx);
    await loadEnvironment(wctx.ws, target, { serverArgs: ctx.rest, env: ctx.io.env });
    const requestedAt = epochSeconds();
    const { via, supervisorPid } = await request(ctx, wctx, target, requestedAt);
    const how = {
      api: 'through the control API',
      file: 'through .switch_request.json',
      lazy: `by starting a supervisor (pid ${supervisorPid})`,
      'file-supervised':
        'through .switch_request.json; the supervising process acts on it when this server exits 43',
    }[via];
    println(ctx.io.stderr, `switch to ${sanitizeForLog(target)} requested ${how}`);
    if (!ctx.values.wait || via === 'file-supervised') {
      if (ctx.values.json) printJson(ctx.io, { target, via, supervisorPid, state: null, status: null });
      return 0;
    }
    const status = await waitForOutcome(ctx, wctx.paths, wctx.ws, target, requestedAt, timeoutS * 1000);
    const ok = status.state === 'complete';
    if (ctx.values.json) printJson(ctx.io, { target, via, supervisorPid, state: status.state, status });
    const err =
      typeof status.error === 'string' && status.error !== '' ? `: ${sanitizeForLog(status.error)}` : '';
    println(
      ctx.io.stderr,
      `switch to ${sanitizeForLog(target)} ended ${sanitizeForLog(status.state)}${ok ? '' : err}`,
    );
    return ok ? 0 : 4;
  },
};

async function request(
  ctx: CommandContext,
  wctx: WorkspaceContext,
  target: string,
  requestedAt: number,
): Promise<{ via: Via; supervisorPid: number | null }> {
  const { ws, paths } = wctx;
  const live = await liveSupervisor(paths);
  if (live) {
    const endpoint = await controlEndpointOf(paths);
    if (endpoint?.token) {
      const res = await controlRequest(endpoint, 'POST', '/switch', {
        body: { target },
        signal: ctx.signal,
      }).catch((err: unknown) => {
        if (err instanceof MarshalError && err.code === 'E_CONTROL_UNREACHABLE') return undefined;
        throw err;
      });
      if (res !== undefined) {
        if (res.status >= 200 && res.status < 300) return { via: 'api', supervisorPid: live.pid };
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
    return { via: 'file', supervisorPid: live.pid };
  }
  await assertNoSwitchLock(paths);
  await writeSwitchRequest(ws, { target_env: target, source_env: null, timestamp: requestedAt });
  if (isSupervisedProcess(ctx.io.env)) return { via: 'file-supervised', supervisorPid: null };
  const pid = await startDetached(ctx, wctx, target, [], ctx.rest);
  return { via: 'lazy', supervisorPid: pid };
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
    {
      hint: 'wait for it to finish (marshal status), then retry',
    },
  );
}

/** Polls the status file until this request's switch reaches a terminal state. */
async function waitForOutcome(
  ctx: CommandContext,
  paths: MetadataPaths,
  ws: Workspace,
  target: string,
  requestedAt: number,
  timeoutMs: number,
): Promise<SwitchStatus> {
  const bound = timeoutSignal(timeoutMs, ctx.signal);
  let lastState = '';
  let goneChecks = 0;
  try {
    for (;;) {
      const st = await readSwitchStatus(ws);
      const ours = st !== null && st.target_env === target && st.updated_at >= requestedAt;
      if (ours && st.state !== lastState) {
        lastState = st.state;
        println(
          ctx.io.stderr,
          `  ${sanitizeForLog(st.state)} ${st.progress}%: ${sanitizeForLog(st.message)}`,
        );
      }
      if (ours && TERMINAL_SWITCH_STATES.has(st.state)) return st;
      // A supervisor that died mid-switch never writes a terminal state: do not wait for nothing.
      if (!(await liveSupervisor(paths))) {
        goneChecks++;
        if (goneChecks > 20) {
          throw new MarshalError(
            SUPERVISOR_ERRORS.E_SWITCH_FAILED,
            `no supervisor is running; the switch to ${sanitizeForLog(target)} did not finish`,
            {
              details: { target, lastState: lastState || null },
              hint: `see ${paths.orchestratorLog}`,
            },
          );
        }
      } else goneChecks = 0;
      await sleep(100, { signal: bound });
    }
  } catch (err) {
    if (ctx.signal.aborted || !bound.aborted) throw err;
    throw new TimeoutError(
      `the switch to ${sanitizeForLog(target)} did not end within ${timeoutMs / 1000} s`,
      {
        details: { target, lastState: lastState || null },
        exitCode: 4,
      },
    );
  }
}
