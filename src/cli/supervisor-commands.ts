/**
 * `marshal status`, `marshal restart`, `marshal stop`: the supervisor library's client
 * (`supervisorClient`) does the work; these commands parse and render.
 */
import { sanitizeForLog } from '../core/index.ts';
import { type CommandChannel, STOP_WAIT_DEFAULT_MS, supervisorClient } from '../supervisor/index.ts';
import { type CommandContext, type CommandSpec, numberOption } from './command.ts';
import { printJson, println, styler, useColor } from './io.ts';
import { resolveWorkspace, WORKSPACE_OPTION } from './supervisor-context.ts';

async function clientOf(ctx: CommandContext) {
  const workspace = await resolveWorkspace(ctx);
  return supervisorClient({ workspace, env: ctx.io.env, signal: ctx.signal });
}

const channel = (via: CommandChannel): string => (via === 'api' ? 'control API' : '.cmd');

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
    const client = await clientOf(ctx);
    const report = await client.status();
    if (ctx.values.json) {
      printJson(ctx.io, report);
      return 0;
    }
    const s = styler(useColor(ctx.io, 'stdout'));
    const out = ctx.io.stdout;
    if (!report.running)
      println(out, `supervisor: ${s.dim('not running')} (${sanitizeForLog(client.workspace.root)})`);
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
  usage: 'restart [--workspace <dir>] [--json]',
  options: {
    workspace: WORKSPACE_OPTION,
    json: { type: 'boolean', description: 'print {pid, via} (via: api or file)' },
  },
  exitCodes: [[1, 'no supervisor is running, or it refused the request']],
  async run(ctx) {
    const outcome = await (await clientOf(ctx)).restart();
    if (ctx.values.json) printJson(ctx.io, outcome);
    println(ctx.io.stderr, `restart requested (supervisor pid ${outcome.pid}, via ${channel(outcome.via)})`);
    return 0;
  },
};

const stop: CommandSpec = {
  name: 'stop',
  summary: 'stop the supervisor and its server, and wait until they are gone',
  usage: 'stop [--workspace <dir>] [--timeout <s>] [--json]',
  options: {
    workspace: WORKSPACE_OPTION,
    timeout: {
      type: 'string',
      valueName: 's',
      description: 'how long to wait for the supervisor to exit',
      defaultText: String(STOP_WAIT_DEFAULT_MS / 1000),
    },
    json: { type: 'boolean', description: 'print {wasRunning, pid, via} once it is gone' },
  },
  exitCodes: [[1, 'the supervisor did not exit in time, or refused the request']],
  async run(ctx) {
    const timeoutS = numberOption(ctx.values, 'timeout', { min: 0.1, max: 3600 });
    const client = await clientOf(ctx);
    const outcome = await client.stop(timeoutS === undefined ? {} : { timeoutMs: timeoutS * 1000 });
    if (ctx.values.json) printJson(ctx.io, outcome);
    if (!outcome.wasRunning) println(ctx.io.stderr, 'no supervisor is running');
    else println(ctx.io.stderr, `supervisor stopped (pid ${outcome.pid}, asked via ${channel(outcome.via)})`);
    return 0;
  },
};

export const supervisorCommands: CommandSpec[] = [status, restart, stop];
