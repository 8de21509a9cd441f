/**
 * The stall watch (effectful): judges the ranks' progress (stall.ts) whenever the earliest rank
 * could cross the limit, and reports a stall once. The wait between checks is a core
 * `deadline()` (a strongly held timer: it fires under garbage collection, unlike a timeout signal
 * inside `AbortSignal.any`) linked to the caller's signal, re-armed after each check and cleared
 * by `stop()`; nothing keeps running once the launch ends.
 */
import { type Deadline, deadline } from '../../core/deadline.ts';
import { judgeStall, type ProgressTracker, type StallPolicy, type StallVerdict } from './stall.ts';

export interface StallWatch {
  /** Stops watching (idempotent). */
  stop(): void;
}

export interface StallWatchOptions {
  tracker: ProgressTracker;
  policy: StallPolicy;
  /** Called once, with the verdict, when ranks are stalled. */
  onStall: (verdict: Extract<StallVerdict, { kind: 'stalled' }>) => void;
  signal?: AbortSignal;
  /** The tracker's clock (ms). */
  now: () => number;
}

/** Starts watching; a `factor` of 0 watches nothing. */
export function startStallWatch(options: StallWatchOptions): StallWatch {
  const { tracker, policy, onStall, signal, now } = options;
  let over = policy.factor === 0;
  let wait: Deadline | undefined;
  const arm = (ms: number): void => {
    wait = deadline(ms, [signal], 'stall watch');
    wait.signal.addEventListener(
      'abort',
      () => {
        if (over || signal?.aborted) return;
        const verdict = judgeStall(tracker.snapshot(), tracker.stepMs(), policy, now());
        if (verdict.kind === 'ok') return arm(verdict.recheckInMs);
        over = true;
        onStall(verdict);
      },
      { once: true },
    );
  };
  if (!over) arm(policy.minMs);
  return {
    stop() {
      over = true;
      wait?.clear();
    },
  };
}
