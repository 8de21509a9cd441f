/**
 * The launch lifecycle as a state union with a pure step function: no process, clock or timer
 * here. The runner (runner.ts) feeds it events and performs the effects it returns.
 *
 * ```
 *             spawned (last)              clean exit, others live
 *  starting ──────────────────> running ───────────────────────────> grace
 *     │  spawn_failed / a failure   │ a failure / aborted              │ a failure / aborted
 *     │  / aborted                  v                                  │ grace_expired
 *     └──────────────────────> stopping(reason) <──────────────────────┘
 *                                   │ every started process exited
 *  running / grace ── every started process exited ──> done <──┘
 * ```
 *
 * A failure is an exit other than code 0 (a signal included) of a process nobody stopped, a
 * process reporting that one of its ranks failed (`rank_failed`: the rank-side entry's marker line,
 * seen before the process exits; under torchrun that can be minutes before), or the stall watch
 * blaming processes (`stalled`). Entering `stopping` marks every live process with the stop reason
 * and asks the runner to stop it; the blamed process is marked `rank_failed` / `stalled`, the others
 * `peer_failed` / `peer_stalled`; processes not started yet are marked and never start. In
 * `stopping`, a late report is a consequence of the stop and changes nothing. `done` is entered
 * once, with `finish`.
 */
import { assertNever } from '../../core/errors.ts';
import type { StopReason } from './run-report.ts';

/** What the machine knows of one planned process. */
export interface ProcSlot {
  phase: 'pending' | 'live' | 'exited';
  /** Exit code (null: killed by a signal, or it never ran). */
  code: number | null;
  /** Why marshal stopped it (or why it never ran); null when it ended on its own. */
  stopped: StopReason | null;
}

export type LaunchState =
  | { kind: 'starting'; procs: readonly ProcSlot[] }
  | { kind: 'running'; procs: readonly ProcSlot[] }
  | { kind: 'grace'; procs: readonly ProcSlot[] }
  | { kind: 'stopping'; reason: StopReason; procs: readonly ProcSlot[] }
  | { kind: 'done'; procs: readonly ProcSlot[] };

export type LaunchEvent =
  | { type: 'start' }
  | { type: 'spawned'; index: number }
  | { type: 'spawn_failed'; index: number }
  | { type: 'exited'; index: number; code: number | null }
  | { type: 'grace_expired' }
  | { type: 'aborted' }
  /** Process `index` printed a rank's failure marker (it may still be running). */
  | { type: 'rank_failed'; index: number }
  /** The stall watch blames the ranks of these processes. */
  | { type: 'stalled'; indices: number[] };

export type LaunchEffect =
  | { type: 'spawn'; index: number }
  | { type: 'stop'; indices: number[]; reason: StopReason }
  | { type: 'start_grace' }
  | { type: 'clear_grace' }
  | { type: 'finish' };

export interface Step {
  state: LaunchState;
  effects: LaunchEffect[];
}

/** The state before anything started: `n` pending processes. */
export function initialLaunchState(n: number): LaunchState {
  return {
    kind: 'starting',
    procs: Array.from({ length: n }, () => ({ phase: 'pending' as const, code: null, stopped: null })),
  };
}

const live = (procs: readonly ProcSlot[]) => procs.some((p) => p.phase === 'live');
const update = (procs: readonly ProcSlot[], index: number, slot: Partial<ProcSlot>): ProcSlot[] =>
  procs.map((p, i) => (i === index ? { ...p, ...slot } : p));
const stay = (state: LaunchState): Step => ({ state, effects: [] });

interface Blame {
  indices: readonly number[];
  reason: StopReason;
}

/** Stops every live process and cancels the pending ones, for `reason` (the blamed ones for theirs). */
function stopAll(
  procs: readonly ProcSlot[],
  reason: StopReason,
  extra: LaunchEffect[] = [],
  blame?: Blame,
): Step {
  const blamed = (i: number) => blame?.indices.includes(i) === true;
  const next = procs.map((p, i): ProcSlot => {
    if (p.phase === 'live') return { ...p, stopped: blamed(i) ? blame!.reason : reason };
    if (p.phase === 'pending') return { phase: 'exited', code: null, stopped: reason };
    return p;
  });
  const liveOf = (pick: boolean) =>
    procs.flatMap((p, i) => (p.phase === 'live' && blamed(i) === pick ? [i] : []));
  const stops: LaunchEffect[] = [];
  if (blame && liveOf(true).length > 0)
    stops.push({ type: 'stop', indices: liveOf(true), reason: blame.reason });
  if (liveOf(false).length > 0) stops.push({ type: 'stop', indices: liveOf(false), reason });
  if (stops.length === 0)
    return { state: { kind: 'done', procs: next }, effects: [...extra, { type: 'finish' }] };
  return { state: { kind: 'stopping', reason, procs: next }, effects: [...extra, ...stops] };
}

/** A report that blames processes: `rank_failed` or `stalled`. */
function blameStop(
  procs: readonly ProcSlot[],
  event: { type: 'rank_failed'; index: number } | { type: 'stalled'; indices: number[] },
  extra: LaunchEffect[] = [],
): Step {
  return event.type === 'rank_failed'
    ? stopAll(procs, 'peer_failed', extra, { indices: [event.index], reason: 'rank_failed' })
    : stopAll(procs, 'peer_stalled', extra, { indices: event.indices, reason: 'stalled' });
}

/** After every process started, or after a clean exit: run on, give the rest a grace, or finish. */
function settle(procs: readonly ProcSlot[], kind: 'running' | 'grace'): Step {
  if (!live(procs))
    return {
      state: { kind: 'done', procs },
      effects: [...(kind === 'grace' ? [{ type: 'clear_grace' as const }] : []), { type: 'finish' }],
    };
  const cleanExit = procs.some((p) => p.phase === 'exited' && p.code === 0);
  if (kind === 'running' && cleanExit)
    return { state: { kind: 'grace', procs }, effects: [{ type: 'start_grace' }] };
  return stay({ kind, procs });
}

/** The pure transition: the next state and the effects to perform, for every state and event. */
export function step(state: LaunchState, event: LaunchEvent): Step {
  switch (state.kind) {
    case 'starting':
      switch (event.type) {
        case 'start':
          return state.procs.length === 0
            ? { state: { kind: 'done', procs: state.procs }, effects: [{ type: 'finish' }] }
            : { state, effects: [{ type: 'spawn', index: 0 }] };
        case 'spawned': {
          const procs = update(state.procs, event.index, { phase: 'live' });
          const next = procs.findIndex((p) => p.phase === 'pending');
          if (next !== -1)
            return { state: { kind: 'starting', procs }, effects: [{ type: 'spawn', index: next }] };
          return settle(procs, 'running');
        }
        case 'spawn_failed':
          return stopAll(
            update(state.procs, event.index, { phase: 'exited', stopped: 'spawn_failed' }),
            'peer_failed',
          );
        case 'exited': {
          const procs = update(state.procs, event.index, { phase: 'exited', code: event.code });
          // Spawning goes on; a failure stops the ones started and cancels the rest.
          return event.code === 0 ? stay({ kind: 'starting', procs }) : stopAll(procs, 'peer_failed');
        }
        case 'aborted':
          return stopAll(state.procs, 'aborted');
        case 'rank_failed':
        case 'stalled':
          return blameStop(state.procs, event);
        case 'grace_expired':
          return stay(state);
        default:
          return assertNever(event);
      }
    case 'running':
    case 'grace': {
      const clear: LaunchEffect[] = state.kind === 'grace' ? [{ type: 'clear_grace' }] : [];
      switch (event.type) {
        case 'exited': {
          const procs = update(state.procs, event.index, { phase: 'exited', code: event.code });
          if (event.code !== 0) return stopAll(procs, 'peer_failed', clear);
          return settle(procs, state.kind);
        }
        case 'aborted':
          return stopAll(state.procs, 'aborted', clear);
        case 'rank_failed':
        case 'stalled':
          return blameStop(state.procs, event, clear);
        case 'grace_expired':
          return state.kind === 'grace' ? stopAll(state.procs, 'teardown_hang') : stay(state);
        case 'start':
        case 'spawned':
        case 'spawn_failed':
          return stay(state);
        default:
          return assertNever(event);
      }
    }
    case 'stopping':
      switch (event.type) {
        case 'exited': {
          const procs = update(state.procs, event.index, { phase: 'exited', code: event.code });
          return live(procs)
            ? stay({ kind: 'stopping', reason: state.reason, procs })
            : { state: { kind: 'done', procs }, effects: [{ type: 'finish' }] };
        }
        case 'spawned': {
          // Started after the stop was decided: it is stopped too.
          const procs = update(state.procs, event.index, { phase: 'live', stopped: state.reason });
          return {
            state: { kind: 'stopping', reason: state.reason, procs },
            effects: [{ type: 'stop', indices: [event.index], reason: state.reason }],
          };
        }
        case 'spawn_failed': {
          const procs = update(state.procs, event.index, { phase: 'exited', stopped: 'spawn_failed' });
          return live(procs)
            ? stay({ kind: 'stopping', reason: state.reason, procs })
            : { state: { kind: 'done', procs }, effects: [{ type: 'finish' }] };
        }
        case 'start':
        case 'grace_expired':
        case 'aborted':
        case 'rank_failed':
        case 'stalled':
          return stay(state);
        default:
          return assertNever(event);
      }
    case 'done':
      return stay(state);
    default:
      return assertNever(state);
  }
}
