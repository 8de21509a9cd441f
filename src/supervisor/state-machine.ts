/**
 * The supervisor's lifecycle as a pure state machine: `transition(state, event) -> {state, effects}`.
 * No fs, process, clock or randomness in here; supervisor.ts interprets the effects and feeds the
 * outcomes back as events. Ids (`gen` of a child, `op` of a sync, `timer`) make late events from an
 * earlier child, sync or timer harmless: they no longer match and are ignored.
 *
 * ```
 *            boot                       boot (pending request)
 *   idle ──────────► syncing ──────────────────────────────────────┐
 *                       │ sync_done                                 ▼
 *                       ▼                      switch_requested  switch_syncing ◄── switch_releasing
 *   ┌──────────────► validating ──ready──► running ─────────────────────┼──────────────►   ▲ (source exits;
 *   │                   │ timeout          │  │ restart_requested     │ sync_done         │  grace, then
 *   │                   ▼                  │  ▼                       ▼                   │  stop_child)
 *   │            stopping_child ◄──────────┘ stopping_child    switch_validating ──ready──► running (complete)
 *   │                   │ child_exited          │ (then restart)  │ exit≠0/42/43, start error,
 *   │ backoff_elapsed   ▼                       ▼                 │ timeout (via switch_stopping_target)
 *   └──── backoff ◄── crash ───► crash_loop    syncing            ▼
 *                                 (exit 4)               rollback_validating ──ready──► running (rolled_back)
 *                                                                 │ fails (via rollback_stopping)
 *                                                                 ▼
 *                                                       critical_failure ─► crash (backoff on the source)
 *
 *   child exit codes, in validating / running / any switch step:
 *     0 -> stop supervising (a switch in flight ends `aborted`)     42 -> restart (sync first)
 *     43 -> awaiting_request (take .switch_request.json)            other -> crash (or rollback in a switch)
 *   stop_requested anywhere -> stopping (stop_child) -> stopped (exit 0); a switch in flight ends `aborted`.
 * ```
 */
import { assertNever } from '../core/errors.ts';
import { onStop, onSwitchRequested } from './interrupts.ts';
import {
  crash,
  crashAfterExit,
  describeExit,
  finishStopped,
  ignore,
  requestedRestart,
  startChild,
  syncThenStart,
} from './machine-steps.ts';
import type {
  Context,
  MachineConfig,
  Phase,
  SupervisorEvent,
  SupervisorState,
  Transition,
} from './machine-types.ts';
import {
  beginSwitch,
  criticalFailure,
  rollBack,
  startSource,
  startTarget,
  status,
  switchChildExited,
  syncTarget,
  terminal,
} from './switch.ts';

/** The state before `boot`. */
export function initialState(env: string, cfg: MachineConfig): SupervisorState {
  return { kind: 'idle', ctx: { cfg, env, restarts: 0, crashes: 0, seq: 0 } };
}

/** The public phase of a state. */
export function phaseOf(state: SupervisorState): Phase {
  switch (state.kind) {
    case 'idle':
      return 'starting';
    case 'syncing':
    case 'validating':
      return state.purpose === 'initial' ? 'starting' : 'restarting';
    case 'running':
      return 'running';
    case 'stopping_child':
    case 'backoff':
      return 'restarting';
    case 'awaiting_request':
      return state.within?.during === 'rollback' ? 'rolling_back' : 'switching';
    case 'switch_releasing':
    case 'switch_syncing':
    case 'switch_validating':
    case 'switch_stopping_target':
      return 'switching';
    case 'rollback_validating':
    case 'rollback_stopping':
      return 'rolling_back';
    case 'stopping':
    case 'stopped':
      return 'stopped';
    case 'crash_loop':
      return 'crash_loop';
    default:
      return assertNever(state, 'supervisor state');
  }
}

/** The environment a status shows: the switch target once its child runs, else the current one. */
export function shownEnvironment(state: SupervisorState): string {
  return state.kind === 'switch_validating' || state.kind === 'switch_stopping_target'
    ? state.sw.target
    : state.ctx.env;
}

/** True once supervision is over (no event changes the state any more). */
export function isFinal(state: SupervisorState): boolean {
  return state.kind === 'stopped' || state.kind === 'crash_loop';
}

/** The switch in flight, if any (its lock is held). */
export function activeSwitch(state: SupervisorState): { target: string; source: string | null } | null {
  if ('sw' in state) return state.sw;
  if (state.kind === 'awaiting_request' && state.within) return state.within.sw;
  return null;
}

/** Applies `event` to `state`. Pure; ignored events return `state` itself and no effects. */
export function transition(state: SupervisorState, event: SupervisorEvent): Transition {
  if (isFinal(state)) return ignore(state);
  if (event.type === 'stop_requested') return onStop(state, event.reason);
  if (event.type === 'switch_requested') return onSwitchRequested(state, event);
  const { ctx } = state;
  switch (state.kind) {
    case 'idle':
      if (event.type !== 'boot') return ignore(state);
      if (event.pending)
        return beginSwitch(
          { ...ctx, env: event.pending.source ?? event.pending.target },
          event.pending,
          null,
          true,
        );
      return syncThenStart(ctx, 'initial');
    case 'syncing':
      if (event.type === 'sync_done' && event.op === state.op) return startChild(ctx, state.purpose);
      if (event.type === 'sync_failed' && event.op === state.op)
        return crash(ctx, `sync of ${ctx.env} failed: ${event.error}`);
      return ignore(state);
    case 'validating':
      if (event.type === 'ready' && event.gen === state.gen) return toRunning(ctx, state.gen);
      if (event.type === 'readiness_failed' && event.gen === state.gen && event.reason === 'timeout') {
        return {
          state: {
            kind: 'stopping_child',
            ctx,
            gen: state.gen,
            after: 'crash',
            reason: `not ready: ${event.message}`,
          },
          effects: [{ type: 'stop_child', gen: state.gen }],
        };
      }
      if (event.type === 'child_exited' && event.gen === state.gen) return onPlainExit(ctx, event);
      if (event.type === 'restart_requested') return stopForRestart(ctx, state.gen);
      return ignore(state);
    case 'running':
      if (event.type === 'child_exited' && event.gen === state.gen) return onPlainExit(ctx, event);
      if (event.type === 'stable_elapsed' && event.gen === state.gen) {
        return ctx.crashes === 0
          ? ignore(state)
          : { state: { ...state, ctx: { ...ctx, crashes: 0 } }, effects: [] };
      }
      if (event.type === 'restart_requested') return stopForRestart(ctx, state.gen);
      if (event.type === 'liveness_failed' && event.gen === state.gen) {
        return {
          state: {
            kind: 'stopping_child',
            ctx,
            gen: state.gen,
            after: 'crash',
            reason: `liveness probe failed: ${event.message}`,
          },
          effects: [{ type: 'stop_child', gen: state.gen }],
        };
      }
      return ignore(state);
    case 'stopping_child':
      if (event.type !== 'child_exited' || event.gen !== state.gen) return ignore(state);
      return state.after === 'restart'
        ? requestedRestart(ctx)
        : crashAfterExit(ctx, state.reason, event.usedExtraArgs);
    case 'backoff':
      if (event.type === 'backoff_elapsed' && event.timer === state.timer) {
        return startChild({ ...ctx, restarts: ctx.restarts + 1 }, 'crash');
      }
      if (event.type === 'restart_requested') return requestedRestart(ctx);
      return ignore(state);
    case 'awaiting_request':
      if (event.type !== 'request_unavailable') return ignore(state);
      if (state.within === null) return requestedRestart(ctx);
      return state.within.during === 'switch'
        ? syncTarget(ctx, state.within.sw)
        : startSource(ctx, state.within.sw, `no usable switch request (${event.reason})`);
    case 'switch_releasing':
      if (event.type === 'child_exited' && event.gen === state.gen) return syncTarget(ctx, state.sw);
      if (event.type === 'request_grace_elapsed' && event.timer === state.timer) {
        return { state, effects: [{ type: 'stop_child', gen: state.gen }] };
      }
      return ignore(state);
    case 'switch_syncing':
      if (event.type === 'sync_done' && event.op === state.op) return startTarget(ctx, state.sw);
      if (event.type === 'sync_failed' && event.op === state.op) {
        return rollBack(ctx, state.sw, `sync of ${state.sw.target} failed: ${event.error}`);
      }
      return ignore(state);
    case 'switch_validating':
      if (event.type === 'child_spawned' && event.gen === state.gen) {
        return {
          state,
          effects: [status(state.sw, 'validating', `Waiting for ${state.sw.target} to be healthy...`)],
        };
      }
      if (event.type === 'ready' && event.gen === state.gen) {
        return toRunning(
          { ...ctx, env: state.sw.target, crashes: 0, skipExtraArgs: false },
          state.gen,
          terminal(state.sw, 'complete', `Successfully switched to ${state.sw.target}`),
        );
      }
      if (event.type === 'readiness_failed' && event.gen === state.gen && event.reason === 'timeout') {
        return {
          state: {
            kind: 'switch_stopping_target',
            ctx,
            sw: state.sw,
            gen: state.gen,
            reason: `${state.sw.target} not ready: ${event.message}`,
          },
          effects: [{ type: 'stop_child', gen: state.gen }],
        };
      }
      if (event.type === 'child_exited' && event.gen === state.gen)
        return switchChildExited(ctx, state.sw, 'switch', event, '');
      return ignore(state);
    case 'switch_stopping_target':
      if (event.type === 'child_exited' && event.gen === state.gen)
        return rollBack(ctx, state.sw, state.reason);
      return ignore(state);
    case 'rollback_validating':
      if (event.type === 'ready' && event.gen === state.gen) {
        return toRunning(
          { ...ctx, crashes: 0 },
          state.gen,
          terminal(
            state.sw,
            'rolled_back',
            `Switch to ${state.sw.target} failed; rolled back to ${state.sw.source}`,
            state.reason,
          ),
        );
      }
      if (event.type === 'readiness_failed' && event.gen === state.gen && event.reason === 'timeout') {
        return {
          state: { kind: 'rollback_stopping', ctx, sw: state.sw, gen: state.gen, reason: state.reason },
          effects: [{ type: 'stop_child', gen: state.gen }],
        };
      }
      if (event.type === 'child_exited' && event.gen === state.gen) {
        return switchChildExited(ctx, state.sw, 'rollback', event, state.reason);
      }
      return ignore(state);
    case 'rollback_stopping':
      if (event.type === 'child_exited' && event.gen === state.gen) {
        return criticalFailure(ctx, state.sw, state.reason, `${state.sw.source} was not ready in time`);
      }
      return ignore(state);
    case 'stopping':
      if (event.type === 'child_exited' && event.gen === state.gen) return finishStopped(ctx, 'stopped');
      return ignore(state);
    case 'stopped':
    case 'crash_loop':
      return ignore(state);
    default:
      return assertNever(state, 'supervisor state');
  }
}

function toRunning(ctx: Context, gen: number, before: Transition['effects'] = []): Transition {
  return {
    state: { kind: 'running', ctx, gen },
    effects: [...before, { type: 'schedule_stable', gen, delayMs: ctx.cfg.stableMs }],
  };
}

function stopForRestart(ctx: Context, gen: number): Transition {
  return {
    state: { kind: 'stopping_child', ctx, gen, after: 'restart', reason: 'restart requested' },
    effects: [{ type: 'stop_child', gen }],
  };
}

/** Exit of the child outside a switch: 0 stop, 42 restart, 43 switch, anything else a crash. */
function onPlainExit(ctx: Context, e: Extract<SupervisorEvent, { type: 'child_exited' }>): Transition {
  if (e.startError === undefined && e.signal === null) {
    if (e.code === 0) return finishStopped(ctx, `${ctx.env} exited with code 0`);
    if (e.code === 42) return requestedRestart(ctx);
    if (e.code === 43)
      return {
        state: { kind: 'awaiting_request', ctx, within: null },
        effects: [{ type: 'take_switch_request' }],
      };
  }
  return crashAfterExit(ctx, `${ctx.env} ${describeExit(e)}`, e.usedExtraArgs);
}
