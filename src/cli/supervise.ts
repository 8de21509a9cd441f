/**
 * `marshal supervise --env <name> [--detach] [...] [-- <server args>]`: runs the supervisor in the
 * foreground (state lines on stderr; Ctrl-C / SIGTERM stop it cleanly; crash_loop exits 4)
 * together with its control API, or starts it detached and prints its pid. The timing flags, their
 * defaults, bounds and help come from the supervisor's settings table.
 */
import { resolve } from 'node:path';
import { sanitizeForLog, UsageError } from '../core/index.ts';
import {
  flaggedSettings,
  openTextLog,
  type SettingName,
  type SupervisorEventRecord,
  serveSupervisor,
  supervisorClient,
} from '../supervisor/index.ts';
import {
  type CommandContext,
  type CommandSpec,
  numberOption,
  type OptionSpec,
  type OptionValues,
  stringOption,
} from './command.ts';
import { printJson, println, styler, useColor } from './io.ts';
import { resolveWorkspace, WORKSPACE_OPTION } from './supervisor-context.ts';
import { renderEvent } from './supervisor-render.ts';

const seconds = (ms: number): string => String(ms / 1000);

/** The timing flags, derived from the settings table (durations in seconds on the command line). */
const TIMING_OPTIONS: Record<string, OptionSpec> = Object.fromEntries(
  flaggedSettings().map(({ spec }) => [
    spec.flag,
    {
      type: 'string',
      valueName: spec.kind === 'ms' ? 's' : 'n',
      description: spec.help,
      defaultText: spec.kind === 'ms' ? seconds(spec.default) : String(spec.default),
    } satisfies OptionSpec,
  ]),
);

/** Validated timing flags as supervisor settings (only those given), bounds from the table. */
export function timingOptions(values: OptionValues): Partial<Record<SettingName, number>> {
  const out: Partial<Record<SettingName, number>> = {};
  for (const { name, spec } of flaggedSettings()) {
    const ms = spec.kind === 'ms';
    const v = numberOption(values, spec.flag, {
      min: ms ? spec.min / 1000 : spec.min,
      max: ms ? spec.max / 1000 : spec.max,
      integer: !ms,
    });
    if (v !== undefined) out[name] = ms ? Math.round(v * 1000) : v;
  }
  return out;
}

export const superviseCommand: CommandSpec = {
  name: 'supervise',
  summary: "keep an environment's server up: restarts, switches with rollback, crash-loop guard",
  usage: 'supervise --env <name> [--workspace <dir>] [--detach] [timing options] [-- <server args>]',
  description:
    'Runs the server of environment <name> as a child (own process group), probes its readiness, restarts\n' +
    'it on exit 42 or on request, switches environments on exit 43 / marshal switch (rolling back when the\n' +
    'target does not become ready), and gives up with crash_loop after too many crashes in a row.\n' +
    'Control API on 127.0.0.1 (first free port of MARSHAL_CONTROL_PORTS, default 5050-5100).\n' +
    "Reads ComfyGit's .metadata/orchestrator_config.json (created with its defaults when missing): extra_args,\n" +
    'control_port_range, enable_control_server, health_check_timeout_s, crash_retry_*; flags given here win.\n' +
    "Accepts ComfyGit orchestrator.py's argv: --workspace W --environment E --args <server args...>.",
  options: {
    workspace: WORKSPACE_OPTION,
    env: {
      type: 'string',
      short: 'e',
      valueName: 'name',
      description: 'the environment to supervise (required)',
    },
    environment: {
      type: 'string',
      valueName: 'name',
      description: "same as --env (ComfyGit orchestrator.py's spelling)",
    },
    detach: { type: 'boolean', short: 'd', description: 'run in the background; print its pid' },
    json: { type: 'boolean', description: 'with --detach: print {pid, workspace, environment, log}' },
    'log-file': {
      type: 'string',
      valueName: 'path',
      description: 'write the state lines to this file, rotated by size (10 MiB x 5), instead of stderr',
    },
    ...TIMING_OPTIONS,
  },
  passThrough: true,
  // ComfyGit's `orchestrator.py --workspace W --environment E --args <ComfyUI args...>`.
  remainderOption: 'args',
  exitCodes: [
    [0, 'stopped (marshal stop, a shutdown command, or the server exited 0)'],
    [2, 'bad option, unknown environment, or started from a supervised process'],
    [4, 'crash_loop: the server kept crashing'],
    [6, 'a supervisor already owns this workspace'],
    [130, 'interrupted (Ctrl-C, SIGTERM): the server was stopped first'],
  ],
  examples: [
    'marshal supervise --env default -- --port 8188',
    'marshal supervise --env default --detach',
    'marshal supervise --workspace ~/comfygit --environment default --args --port 8188',
  ],
  async run(ctx) {
    const env = environmentOption(ctx.values);
    const settings = timingOptions(ctx.values);
    const workspace = await resolveWorkspace(ctx);
    if (ctx.values.detach) {
      const client = supervisorClient({ workspace, env: ctx.io.env, signal: ctx.signal });
      const { pid, log } = await client.startDetached(env, { serverArgs: ctx.rest, settings });
      if (ctx.values.json) printJson(ctx.io, { pid, workspace: workspace.root, environment: env, log });
      else {
        println(ctx.io.stdout, String(pid));
        println(ctx.io.stderr, `supervisor started (pid ${pid}); its output goes to ${sanitizeForLog(log)}`);
      }
      return 0;
    }
    return runForeground(ctx, workspace, env, settings);
  },
};

/** `--env`, or ComfyGit's `--environment`; both given must agree. */
function environmentOption(values: OptionValues): string {
  const env = stringOption(values, 'env');
  const alias = stringOption(values, 'environment');
  if (env !== undefined && alias !== undefined && env !== alias) {
    throw new UsageError(
      `marshal supervise: --env ${JSON.stringify(env)} and --environment ${JSON.stringify(alias)} differ`,
    );
  }
  const name = env ?? alias;
  if (name === undefined || name === '') throw new UsageError('marshal supervise: --env <name> is required');
  return name;
}

async function runForeground(
  ctx: CommandContext,
  workspace: Awaited<ReturnType<typeof resolveWorkspace>>,
  env: string,
  settings: Partial<Record<SettingName, number>>,
): Promise<number> {
  const logFile = stringOption(ctx.values, 'log-file');
  const log = logFile === undefined ? undefined : openTextLog(resolve(ctx.io.cwd, logFile));
  const s = styler(log ? false : useColor(ctx.io, 'stderr'));
  const say = (text: string) => (log ? log.line(text) : println(ctx.io.stderr, text));
  try {
    return await serveForeground(ctx, workspace, env, settings, s, say);
  } finally {
    log?.close();
  }
}

async function serveForeground(
  ctx: CommandContext,
  workspace: Awaited<ReturnType<typeof resolveWorkspace>>,
  env: string,
  settings: Partial<Record<SettingName, number>>,
  s: ReturnType<typeof styler>,
  say: (text: string) => void,
): Promise<number> {
  const result = await serveSupervisor({
    workspace,
    env,
    serverArgs: ctx.rest,
    baseEnv: ctx.io.env,
    signal: ctx.signal,
    ...settings,
    onEvent: (e: SupervisorEventRecord) => say(renderEvent(e, s)),
    onControlApi: (api) =>
      say(
        api.ok
          ? s.dim(`control API on 127.0.0.1:${api.port}`)
          : s.yellow(`warning: control API not started: ${sanitizeForLog(api.error.message)}`),
      ),
  });
  return result.exitCode;
}
