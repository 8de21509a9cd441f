/**
 * `marshal supervise --env <name> [--detach] [...] [-- <server args>]`: runs the supervisor in the
 * foreground (state lines on stderr; Ctrl-C / SIGTERM stop it cleanly, exit 0; crash_loop exits 4)
 * together with its control API, or starts it detached and prints its pid.
 */
import { deferred } from '../core/async.ts';
import { UsageError } from '../core/errors.ts';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { type ControlApi, startControlApi } from '../supervisor/control-api.ts';
import { loadEnvironment } from '../supervisor/environment.ts';
import { startSupervisor } from '../supervisor/supervisor.ts';
import type { SupervisorEventRecord, SupervisorOptions } from '../supervisor/supervisor-types.ts';
import {
  type CommandContext,
  type CommandSpec,
  numberOption,
  type OptionValues,
  stringOption,
} from './command.ts';
import { printJson, println, styler, useColor } from './io.ts';
import {
  controlPortRange,
  resolveWorkspace,
  WORKSPACE_OPTION,
  type WorkspaceContext,
} from './supervisor-context.ts';
import { renderEvent } from './supervisor-render.ts';
import { assertMayStart, startDetached } from './supervisor-start.ts';

/** Timing options shared by `supervise` (and forwarded to a detached supervisor). */
const TIMING_OPTIONS = {
  'health-interval': {
    type: 'string',
    valueName: 's',
    description: 'readiness probe interval',
    defaultText: '0.05',
  },
  'health-timeout': {
    type: 'string',
    valueName: 's',
    description: 'readiness bound per start',
    defaultText: '180',
  },
  grace: {
    type: 'string',
    valueName: 's',
    description: 'SIGTERM -> SIGKILL grace when stopping the server',
    defaultText: '5',
  },
  'max-restarts': {
    type: 'string',
    valueName: 'n',
    description: 'restarts after crashes in a row before crash_loop',
    defaultText: '5',
  },
  backoff: {
    type: 'string',
    valueName: 's',
    description: 'first crash backoff (doubles per crash, cap 60 s)',
    defaultText: '1',
  },
} as const;

/** Validated timing options as supervisor options (only those given). */
export function timingOptions(values: OptionValues): Partial<SupervisorOptions> {
  const out: Partial<SupervisorOptions> = {};
  const seconds = (name: string, min: number, max: number) => {
    const v = numberOption(values, name, { min, max });
    return v === undefined ? undefined : Math.round(v * 1000);
  };
  const interval = seconds('health-interval', 0.01, 3600);
  const timeout = seconds('health-timeout', 0.1, 86_400);
  const grace = seconds('grace', 0, 3600);
  const backoff = seconds('backoff', 0, 3600);
  const maxRestarts = numberOption(values, 'max-restarts', { min: 0, max: 10_000, integer: true });
  if (interval !== undefined) out.healthIntervalMs = interval;
  if (timeout !== undefined) out.healthTimeoutMs = timeout;
  if (grace !== undefined) out.graceMs = grace;
  if (backoff !== undefined) out.backoffMs = backoff;
  if (maxRestarts !== undefined) out.maxRestarts = maxRestarts;
  return out;
}

/** The timing flags as given, to forward to a detached supervisor. */
function timingArgs(values: OptionValues): string[] {
  return Object.keys(TIMING_OPTIONS).flatMap((name) => {
    const v = stringOption(values, name);
    return v === undefined ? [] : [`--${name}=${v}`];
  });
}

export const superviseCommand: CommandSpec = {
  name: 'supervise',
  summary: "keep an environment's server up: restarts, switches with rollback, crash-loop guard",
  usage: 'supervise --env <name> [--workspace <dir>] [--detach] [timing options] [-- <server args>]',
  description:
    'Runs the server of environment <name> as a child (own process group), probes its readiness, restarts\n' +
    'it on exit 42 or on request, switches environments on exit 43 / marshal switch (rolling back when the\n' +
    'target does not become ready), and gives up with crash_loop after too many crashes in a row.\n' +
    'Control API on 127.0.0.1 (first free port of MARSHAL_CONTROL_PORTS, default 5050-5100).',
  options: {
    workspace: WORKSPACE_OPTION,
    env: {
      type: 'string',
      short: 'e',
      valueName: 'name',
      description: 'the environment to supervise (required)',
    },
    detach: { type: 'boolean', short: 'd', description: 'run in the background; print its pid' },
    json: { type: 'boolean', description: 'with --detach: print {pid, workspace, environment, log}' },
    ...TIMING_OPTIONS,
  },
  passThrough: true,
  exitCodes: [
    [0, 'stopped (Ctrl-C, SIGTERM, marshal stop, or the server exited 0)'],
    [2, 'bad option, unknown environment, or started from a supervised process'],
    [4, 'crash_loop: the server kept crashing'],
    [6, 'a supervisor already owns this workspace'],
  ],
  examples: ['marshal supervise --env default -- --port 8188', 'marshal supervise --env default --detach'],
  async run(ctx) {
    const env = stringOption(ctx.values, 'env');
    if (env === undefined || env === '') throw new UsageError('marshal supervise: --env <name> is required');
    const timing = timingOptions(ctx.values);
    const wctx = await resolveWorkspace(ctx);
    await loadEnvironment(wctx.ws, env, { serverArgs: ctx.rest, env: ctx.io.env });
    await assertMayStart(ctx, wctx.paths);
    if (ctx.values.detach) {
      const pid = await startDetached(ctx, wctx, env, timingArgs(ctx.values), ctx.rest);
      if (ctx.values.json) {
        printJson(ctx.io, {
          pid,
          workspace: wctx.ws.root,
          environment: env,
          log: wctx.paths.orchestratorLog,
        });
      } else {
        println(ctx.io.stdout, String(pid));
        println(
          ctx.io.stderr,
          `supervisor started (pid ${pid}); its output goes to ${sanitizeForLog(wctx.paths.orchestratorLog)}`,
        );
      }
      return 0;
    }
    return runForeground(ctx, wctx, env, timing);
  },
};

async function runForeground(
  ctx: CommandContext,
  { ws, paths }: WorkspaceContext,
  env: string,
  timing: Partial<SupervisorOptions>,
): Promise<number> {
  const s = styler(useColor(ctx.io, 'stderr'));
  const started = deferred<void>();
  const onEvent = (e: SupervisorEventRecord): void => {
    if (e.type === 'started') started.resolve();
    ctx.io.stderr.write(`${renderEvent(e, s)}\n`);
  };
  const ports = controlPortRange(ctx.io.env);
  const handle = startSupervisor({
    workspace: ws,
    env,
    serverArgs: ctx.rest,
    baseEnv: ctx.io.env,
    signal: ctx.signal,
    onEvent,
    ...timing,
  });
  let api: ControlApi | undefined;
  const first = await Promise.race([
    started.promise.then(() => 'started' as const),
    handle.done.then(
      () => 'done' as const,
      () => 'done' as const,
    ),
  ]);
  // Only the supervisor that owns the workspace (its PID file written) may advertise a control API.
  if (first === 'started') {
    api = await startControlApi({
      target: handle,
      portFile: paths.controlPort,
      tokenFile: paths.controlToken,
      logFile: paths.switchLog,
      ports,
    }).catch((err: unknown) => {
      println(
        ctx.io.stderr,
        s.yellow(`warning: control API not started: ${sanitizeForLog((err as Error).message)}`),
      );
      return undefined;
    });
    if (api) println(ctx.io.stderr, s.dim(`control API on 127.0.0.1:${api.port}`));
  }
  try {
    const result = await handle.done;
    return result.exitCode;
  } finally {
    await api?.close();
  }
}
