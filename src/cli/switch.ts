/**
 * `marshal switch <env> [--wait] [--json]`: switch the supervised server to another environment.
 * The client protocol (control API, then request file, then a lazy detached start) is the
 * supervisor library's `supervisorClient().switchTo`; this file parses and renders.
 */
import { assertNever, sanitizeForLog } from '../core/index.ts';
import { SWITCH_WAIT_DEFAULT_MS, type SwitchChannel, supervisorClient } from '../supervisor/index.ts';
import { type CommandSpec, numberOption } from './command.ts';
import { printJson, println } from './io.ts';
import { resolveWorkspace, WORKSPACE_OPTION } from './supervisor-context.ts';

function how(via: SwitchChannel, supervisorPid: number | null): string {
  switch (via) {
    case 'api':
      return 'through the control API';
    case 'file':
      return 'through .switch_request.json';
    case 'lazy':
      return `by starting a supervisor (pid ${supervisorPid})`;
    case 'file-supervised':
      return 'through .switch_request.json; the supervising process acts on it when this server exits 43';
    default:
      return assertNever(via, 'switch channel');
  }
}

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
    timeout: {
      type: 'string',
      valueName: 's',
      description: 'bound on --wait',
      defaultText: String(SWITCH_WAIT_DEFAULT_MS / 1000),
    },
    json: { type: 'boolean', description: 'print {target, via, supervisorPid, state, status} as JSON' },
  },
  positionals: { min: 1, max: 1, names: '<env>' },
  passThrough: true,
  exitCodes: [
    [0, 'switch requested (with --wait: completed)'],
    [2, 'unknown or invalid environment'],
    [4, 'with --wait: the switch ended rolled_back, failed, critical_failure or aborted, or timed out'],
    [6, 'another switch is in progress'],
  ],
  examples: ['marshal switch staging --wait', 'marshal switch prod --json'],
  async run(ctx) {
    const target = ctx.positionals[0]!;
    const timeoutS = numberOption(ctx.values, 'timeout', { min: 0.1, max: 86_400 });
    const workspace = await resolveWorkspace(ctx);
    const client = supervisorClient({ workspace, env: ctx.io.env, signal: ctx.signal });
    const outcome = await client.switchTo(target, {
      wait: ctx.values.wait === true,
      ...(timeoutS === undefined ? {} : { timeoutMs: timeoutS * 1000 }),
      serverArgs: ctx.rest,
      onRequested: (r) =>
        println(
          ctx.io.stderr,
          `switch to ${sanitizeForLog(target)} requested ${how(r.via, r.supervisorPid)}`,
        ),
      onProgress: (st) =>
        println(
          ctx.io.stderr,
          `  ${sanitizeForLog(st.state)} ${st.progress}%: ${sanitizeForLog(st.message)}`,
        ),
    });
    if (ctx.values.json) printJson(ctx.io, outcome);
    const { status } = outcome;
    if (status === null) return 0;
    const ok = status.state === 'complete';
    const err =
      typeof status.error === 'string' && status.error !== '' ? `: ${sanitizeForLog(status.error)}` : '';
    println(
      ctx.io.stderr,
      `switch to ${sanitizeForLog(target)} ended ${sanitizeForLog(status.state)}${ok ? '' : err}`,
    );
    return ok ? 0 : 4;
  },
};
