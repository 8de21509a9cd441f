/**
 * The lifecycle of one child generation as a state union with a pure step function (children.ts
 * runs the actions against real processes). One outcome per start is the invariant: every path
 * ends in `exited`, reported exactly once.
 *
 * ```
 *   starting ──spawned──────────────> running ──exited──────────┐
 *      │  \                              │                       v
 *      │   start_failed ──> exited       stop ──> stopping ──exited──> exited
 *      stop                                         ^
 *      v                                            │
 *   cancelling ──spawned (a race: it was already on its way)
 *      │
 *      start_failed ──> exited ('start cancelled')
 * ```
 */
import { assertNever } from '../core/errors.ts';

/** How a generation ended: its exit status, or why it never ran. */
export interface ChildOutcome {
  code: number | null;
  signal: string | null;
  startError?: string;
}

/** Where a generation is. */
export type ChildPhase =
  /** Loading its spec, handing off (older groups gone, port free), spawning. */
  | { kind: 'starting' }
  /** Asked to stop before it was spawned: the start aborts at its next step. */
  | { kind: 'cancelling' }
  | { kind: 'running'; pid: number }
  /** SIGTERM sent to its group (SIGKILL after the grace). */
  | { kind: 'stopping'; pid: number }
  | { kind: 'exited'; outcome: ChildOutcome };

/** What happens to a generation. */
export type ChildEvent =
  | { type: 'spawned'; pid: number }
  | { type: 'start_failed'; message: string }
  | { type: 'stop' }
  | { type: 'exited'; code: number | null; signal: string | null };

/** What the runner does for a step. */
export type ChildAction =
  | { type: 'abort_start' }
  | { type: 'stop_group'; pid: number }
  | { type: 'report_spawned'; pid: number }
  | { type: 'report_exited'; outcome: ChildOutcome };

/** A step's result. */
export interface ChildStep {
  phase: ChildPhase;
  actions: ChildAction[];
}

const stay = (phase: ChildPhase): ChildStep => ({ phase, actions: [] });

function exited(outcome: ChildOutcome): ChildStep {
  return { phase: { kind: 'exited', outcome }, actions: [{ type: 'report_exited', outcome }] };
}

/** Applies `event` to `phase`. Pure; an event that means nothing in a phase changes nothing. */
export function stepChild(phase: ChildPhase, event: ChildEvent): ChildStep {
  switch (phase.kind) {
    case 'starting':
      switch (event.type) {
        case 'spawned':
          return {
            phase: { kind: 'running', pid: event.pid },
            actions: [{ type: 'report_spawned', pid: event.pid }],
          };
        case 'start_failed':
          return exited({ code: null, signal: null, startError: event.message });
        case 'stop':
          return { phase: { kind: 'cancelling' }, actions: [{ type: 'abort_start' }] };
        case 'exited':
          return stay(phase);
        default:
          return assertNever(event, 'child event');
      }
    case 'cancelling':
      switch (event.type) {
        case 'spawned':
          return {
            phase: { kind: 'stopping', pid: event.pid },
            actions: [
              { type: 'report_spawned', pid: event.pid },
              { type: 'stop_group', pid: event.pid },
            ],
          };
        case 'start_failed':
          return exited({ code: null, signal: null, startError: 'start cancelled' });
        case 'stop':
        case 'exited':
          return stay(phase);
        default:
          return assertNever(event, 'child event');
      }
    case 'running':
      switch (event.type) {
        case 'stop':
          return {
            phase: { kind: 'stopping', pid: phase.pid },
            actions: [{ type: 'stop_group', pid: phase.pid }],
          };
        case 'exited':
          return exited({ code: event.code, signal: event.signal });
        case 'spawned':
        case 'start_failed':
          return stay(phase);
        default:
          return assertNever(event, 'child event');
      }
    case 'stopping':
      switch (event.type) {
        case 'exited':
          return exited({ code: event.code, signal: event.signal });
        case 'stop':
        case 'spawned':
        case 'start_failed':
          return stay(phase);
        default:
          return assertNever(event, 'child event');
      }
    case 'exited':
      return stay(phase);
    default:
      return assertNever(phase, 'child phase');
  }
}
