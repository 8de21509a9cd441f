/**
 * Transitions for the two requests that can arrive in any state: stop and switch. Pure.
 * A stop during a switch ends it (lock released first): `aborted` for ComfyGit's abort_switch
 * command, else `critical_failure` (a SIGTERM or `marshal stop` leaves nothing running, and
 * `critical_failure` is a state the panel treats as final, with a recovery command); a switch
 * request stops or cancels whatever runs and begins the switch.
 */

import { assertNever } from '../core/errors.ts';
import { finishStopped, ignore, stopThenFinish } from './machine-steps.ts';
import type { SupervisorEvent, SupervisorState, Transition } from './machine-types.ts';
import { abortedBy, beginSwitch, interruptedBy } from './switch.ts';

/** stop_requested in `state`. */
export function onStop(state: SupervisorState, reason: string): Transition {
  const { ctx } = state;
  const why =
    reason === 'abort_switch'
      ? 'abort_switch command'
      : `supervisor ${reason === 'stop' ? 'stopping' : `stopping (${reason})`}`;
  const end = (sw: Parameters<typeof abortedBy>[0]) =>
    reason === 'abort_switch' ? abortedBy(sw, why) : interruptedBy(sw, ctx.env, why);
  switch (state.kind) {
    case 'idle':
    case 'backoff':
      return finishStopped(ctx, why);
    case 'syncing':
      return finishStopped(ctx, why, [{ type: 'cancel_sync', op: state.op }]);
    case 'validating':
    case 'running':
    case 'stopping_child':
      return stopThenFinish(ctx, state.gen);
    case 'awaiting_request':
      return finishStopped(ctx, why, state.within ? end(state.within.sw) : []);
    case 'switch_syncing':
      return finishStopped(ctx, why, [{ type: 'cancel_sync', op: state.op }, ...end(state.sw)]);
    case 'switch_releasing':
    case 'switch_validating':
    case 'switch_stopping_target':
    case 'rollback_validating':
    case 'rollback_stopping':
      return stopThenFinish(ctx, state.gen, end(state.sw));
    case 'stopping':
    case 'stopped':
    case 'crash_loop':
      return ignore(state);
    default:
      return assertNever(state, 'supervisor state');
  }
}

/** switch_requested in `state` (its lock is already held). */
export function onSwitchRequested(
  state: SupervisorState,
  e: Extract<SupervisorEvent, { type: 'switch_requested' }>,
): Transition {
  const { ctx } = state;
  const sw = { target: e.target, source: ctx.env as string | null };
  switch (state.kind) {
    case 'idle':
      // Asked before the first start: switch straight away, the boot environment is the fallback.
      return beginSwitch(ctx, sw, null, true);
    case 'validating':
    case 'running':
      return beginSwitch(ctx, sw, state.gen, e.immediate);
    case 'stopping_child':
      return beginSwitch(ctx, sw, state.gen, true);
    case 'syncing':
      return beginSwitch(ctx, sw, null, true, [{ type: 'cancel_sync', op: state.op }]);
    case 'backoff':
      return beginSwitch(ctx, sw, null, true);
    case 'awaiting_request':
      // The child exited 43 and this is its request. Within a switch, the new target replaces the
      // old one and the rollback source stays the last environment known to be good.
      if (state.within === null) return beginSwitch(ctx, { target: e.target, source: ctx.env }, null, true);
      return beginSwitch(ctx, { target: e.target, source: state.within.sw.source }, null, true);
    case 'switch_releasing':
    case 'switch_syncing':
    case 'switch_validating':
    case 'switch_stopping_target':
    case 'rollback_validating':
    case 'rollback_stopping':
    case 'stopping':
    case 'stopped':
    case 'crash_loop':
      // A switch is already under way (the interpreter refuses these before they get here) or
      // supervision is ending.
      return ignore(state);
    default:
      return assertNever(state, 'supervisor state');
  }
}
