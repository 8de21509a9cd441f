/**
 * The switch part of the supervisor's pure state machine: preparing -> syncing -> starting ->
 * validating -> complete, or rolling_back -> rolled_back / critical_failure, or failed / aborted.
 *
 * Invariants: every switch ends with exactly one terminal status effect, and `release_lock`
 * always comes before it in the same effect list (so a reader who sees a terminal state can start
 * the next switch at once).
 */

import { crash, describeExit, finishStopped, nextId } from './machine-steps.ts';
import type {
  Context,
  Effect,
  StatusEffect,
  SupervisorEvent,
  SwitchContext,
  Transition,
} from './machine-types.ts';
import type { SwitchState } from './protocol.ts';

/** A status-file effect for switch `sw`. */
export function status(
  sw: SwitchContext,
  state: SwitchState,
  message: string,
  error: string | null = null,
): StatusEffect {
  return { type: 'write_switch_status', state, message, target: sw.target, source: sw.source, error };
}

/** The lock release and the terminal status, in that order. */
export function terminal(
  sw: SwitchContext,
  state: SwitchState,
  message: string,
  error: string | null = null,
): Effect[] {
  return [{ type: 'release_lock' }, status(sw, state, message, error)];
}

/** Begin switch `sw`. `gen`: the live child to release first (null: none is running). */
export function beginSwitch(
  ctx0: Context,
  sw: SwitchContext,
  gen: number | null,
  immediate: boolean,
  before: Effect[] = [],
): Transition {
  const from = sw.source ?? 'no environment';
  const preparing = status(sw, 'preparing', `Preparing to switch from ${from} to ${sw.target}...`);
  if (gen === null) return syncTarget(ctx0, sw, [...before, preparing]);
  if (immediate) {
    return {
      state: { kind: 'switch_releasing', ctx: ctx0, sw, gen, timer: null },
      effects: [...before, preparing, { type: 'stop_child', gen }],
    };
  }
  const [ctx, timer] = nextId(ctx0);
  return {
    state: { kind: 'switch_releasing', ctx, sw, gen, timer },
    effects: [
      ...before,
      preparing,
      { type: 'schedule_request_grace', timer, delayMs: ctx.cfg.requestGraceMs },
    ],
  };
}

/** Sync the target (nothing is running). */
export function syncTarget(ctx0: Context, sw: SwitchContext, before: Effect[] = []): Transition {
  const [ctx, op] = nextId(ctx0);
  return {
    state: { kind: 'switch_syncing', ctx, sw, op },
    effects: [
      ...before,
      status(sw, 'syncing', `Syncing ${sw.target}...`),
      { type: 'run_sync', op, env: sw.target },
    ],
  };
}

/** Start the target and validate it. */
export function startTarget(ctx0: Context, sw: SwitchContext): Transition {
  const [ctx, gen] = nextId(ctx0);
  return {
    state: { kind: 'switch_validating', ctx, sw, gen },
    effects: [
      status(sw, 'starting', `Starting ${sw.target}...`),
      { type: 'start_child', gen, env: sw.target },
      { type: 'wait_ready', gen, env: sw.target },
    ],
  };
}

/** The target failed (`reason`): roll back to the source, or end `failed` when there is none. */
export function rollBack(ctx0: Context, sw: SwitchContext, reason: string): Transition {
  if (sw.source === null || sw.source === sw.target) {
    // Nothing to go back to: the switch failed; keep trying the target under the crash policy.
    const ctx = { ...ctx0, env: sw.target };
    return crash(
      ctx,
      reason,
      terminal(
        sw,
        'failed',
        `Switch to ${sw.target} failed`,
        `${reason}; no source environment to roll back to`,
      ),
    );
  }
  return startSource({ ...ctx0, env: sw.source }, sw, reason, [
    status(sw, 'rolling_back', `Switch to ${sw.target} failed, rolling back to ${sw.source}...`, reason),
  ]);
}

/** (Re)start the source during a rollback and validate it. */
export function startSource(
  ctx0: Context,
  sw: SwitchContext,
  reason: string,
  before: Effect[] = [],
): Transition {
  const [ctx, gen] = nextId(ctx0);
  const env = sw.source ?? ctx.env;
  return {
    state: { kind: 'rollback_validating', ctx, sw, gen, reason },
    effects: [...before, { type: 'start_child', gen, env }, { type: 'wait_ready', gen, env }],
  };
}

/** The rollback failed too: critical_failure (with a recovery hint), then the crash policy on the source. */
export function criticalFailure(
  ctx: Context,
  sw: SwitchContext,
  reason: string,
  rollbackError: string,
): Transition {
  const effects: Effect[] = [
    { type: 'release_lock' },
    {
      ...status(
        sw,
        'critical_failure',
        `CRITICAL: rollback to ${sw.source} failed`,
        `${reason}; rollback: ${rollbackError}`,
      ),
      recover: sw.source ?? ctx.env,
    },
  ];
  return crash({ ...ctx, env: sw.source ?? ctx.env }, rollbackError, effects);
}

/** The switch ends `aborted` because the child asked to stop (exit 0) or a stop was requested. */
export function abortedBy(sw: SwitchContext, why: string): Effect[] {
  return terminal(sw, 'aborted', `Switch to ${sw.target} aborted: ${why}`, why);
}

/**
 * The switch ends because supervision stops (SIGTERM, `marshal stop`, a shutdown command):
 * nothing will run, so `critical_failure` with the recovery command of the last good environment.
 */
export function interruptedBy(sw: SwitchContext, env: string, why: string): Effect[] {
  return [
    { type: 'release_lock' },
    {
      ...status(sw, 'critical_failure', `Switch to ${sw.target} interrupted: ${why}`, why),
      recover: sw.source ?? env,
    },
  ];
}

/** A child of the switch (target, or source during rollback) exited before it was ready. */
export function switchChildExited(
  ctx: Context,
  sw: SwitchContext,
  during: 'switch' | 'rollback',
  e: Extract<SupervisorEvent, { type: 'child_exited' }>,
  reason: string,
): Transition {
  const env = during === 'switch' ? sw.target : (sw.source ?? ctx.env);
  const what = `${env} ${describeExit(e)} before it was ready`;
  if (e.startError === undefined && e.signal === null) {
    if (e.code === 0)
      return finishStopped(
        ctx,
        `${env} exited with code 0`,
        abortedBy(sw, `${env} exited with code 0 (stop)`),
      );
    if (e.code === 42) return during === 'switch' ? syncTarget(ctx, sw) : startSource(ctx, sw, reason);
    if (e.code === 43) {
      return {
        state: { kind: 'awaiting_request', ctx, within: { sw, during } },
        effects: [{ type: 'take_switch_request' }],
      };
    }
  }
  return during === 'switch' ? rollBack(ctx, sw, what) : criticalFailure(ctx, sw, reason, what);
}
