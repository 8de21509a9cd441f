/**
 * Building blocks shared by the transitions of state-machine.ts and switch.ts. Pure.
 */
import { crashBackoffMs } from './backoff.ts';
import type { Context, Effect, LaunchPurpose, SupervisorState, Transition } from './machine-types.ts';

/** `state` unchanged and nothing to do: the event does not apply. */
export function ignore(state: SupervisorState): Transition {
  return { state, effects: [] };
}

/** Next id for a child, sync or timer. */
export function nextId(ctx: Context): [Context, number] {
  const id = ctx.seq + 1;
  return [{ ...ctx, seq: id }, id];
}

/** Start a child of `ctx.env` and check its readiness. */
export function startChild(ctx0: Context, purpose: LaunchPurpose, before: Effect[] = []): Transition {
  const [ctx, gen] = nextId(ctx0);
  return {
    state: { kind: 'validating', ctx, purpose, gen },
    effects: [
      ...before,
      ctx.skipExtraArgs
        ? { type: 'start_child', gen, env: ctx.env, plainArgs: true }
        : { type: 'start_child', gen, env: ctx.env },
      { type: 'wait_ready', gen, env: ctx.env },
    ],
  };
}

/** Sync `ctx.env` (no-op when it has no sync step), then start it. */
export function syncThenStart(ctx0: Context, purpose: LaunchPurpose, before: Effect[] = []): Transition {
  const [ctx, op] = nextId(ctx0);
  return {
    state: { kind: 'syncing', ctx, purpose, op },
    effects: [...before, { type: 'run_sync', op, env: ctx.env }],
  };
}

/** A requested restart (exit 42, restart command): not a crash, resets the crash counter. */
export function requestedRestart(ctx: Context, before: Effect[] = []): Transition {
  return syncThenStart(
    { ...ctx, restarts: ctx.restarts + 1, crashes: 0, skipExtraArgs: false },
    'restart',
    before,
  );
}

/**
 * A crash of a plain start. When it ran with `comfyui.extra_args`, ComfyGit's first recovery
 * step: start again at once without them (it counts as a crash), with a `recovering` status; else
 * {@link crash}.
 */
export function crashAfterExit(ctx: Context, reason: string, usedExtraArgs: boolean | undefined): Transition {
  if (!usedExtraArgs || ctx.skipExtraArgs) return crash(ctx, reason);
  const recovering: Effect = {
    type: 'write_switch_status',
    state: 'recovering',
    message: `${ctx.env} crashed. Retrying without custom startup args...`,
    target: ctx.env,
    source: null,
    error: reason,
  };
  return startChild(
    { ...ctx, crashes: ctx.crashes + 1, restarts: ctx.restarts + 1, skipExtraArgs: true },
    'crash',
    [recovering],
  );
}

/** A crash: back off and restart, or give up (crash_loop, exit 4) past `maxRestarts`. */
export function crash(ctx0: Context, reason: string, before: Effect[] = []): Transition {
  const crashes = ctx0.crashes + 1;
  if (crashes > ctx0.cfg.maxRestarts) {
    const ctx = { ...ctx0, crashes };
    return {
      state: { kind: 'crash_loop', ctx },
      effects: [
        ...before,
        {
          type: 'finish',
          exitCode: 4,
          reason: `crash loop: ${reason} (${crashes} crashes in a row, max restarts ${ctx0.cfg.maxRestarts})`,
        },
      ],
    };
  }
  const delayMs = crashBackoffMs(crashes, ctx0.cfg.backoffMs, ctx0.cfg.backoffCapMs);
  const [ctx, timer] = nextId({ ...ctx0, crashes });
  return {
    state: { kind: 'backoff', ctx, timer, delayMs },
    effects: [...before, { type: 'schedule_backoff', timer, delayMs }],
  };
}

/** Supervision ends normally (exit code 0). */
export function finishStopped(ctx: Context, reason: string, before: Effect[] = []): Transition {
  return { state: { kind: 'stopped', ctx }, effects: [...before, { type: 'finish', exitCode: 0, reason }] };
}

/** Stop the live child `gen`, then finish. */
export function stopThenFinish(ctx: Context, gen: number, before: Effect[] = []): Transition {
  return { state: { kind: 'stopping', ctx, gen }, effects: [...before, { type: 'stop_child', gen }] };
}

/** "exited with code 3" / "killed by SIGKILL" / "failed to start: ..." */
export function describeExit(e: { code: number | null; signal: string | null; startError?: string }): string {
  if (e.startError !== undefined) return `failed to start: ${e.startError}`;
  if (e.signal) return `killed by ${e.signal}`;
  return `exited with code ${e.code}`;
}
