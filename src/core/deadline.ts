/**
 * The one deadline primitive. Every bounded wait in marshal gets its signal from {@link deadline}.
 *
 * Why not `AbortSignal.any([signal, AbortSignal.timeout(ms)])`: on Node 20 the timeout signal is
 * held only weakly by its own timer, and a composite made by `AbortSignal.any` does not keep it
 * alive, so under garbage collection the timeout can vanish and never fire (nodejs/node#57736).
 * Here the timer is an ordinary `setTimeout` whose callback closes over an `AbortController`: the
 * timer list holds the callback, the callback holds the controller, so the deadline fires whatever
 * the collector does. Parent signals are linked with plain listeners (removed by `clear()`), so no
 * composite signal is involved either.
 *
 * ```ts
 * const d = deadline(5000, [options.signal], 'model request');
 * try {
 *   await fetch(url, { signal: d.signal });
 * } finally {
 *   d.clear();
 * }
 * ```
 */
import { TimeoutError } from './errors.ts';

/** Largest delay `setTimeout` honours (about 24.8 days); longer ones would fire after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A signal bounded in time and linked to parent signals; always `clear()` it when the work ends. */
export interface Deadline {
  /** Aborts when the time is up (reason: a {@link TimeoutError}) or when a parent aborts (its reason). */
  readonly signal: AbortSignal;
  /** True once the deadline itself fired (not a parent). */
  readonly expired: boolean;
  /** Milliseconds left before the deadline fires (Infinity without a time bound, 0 once aborted). */
  remainingMs(): number;
  /** Stops the timer and unlinks the parents. Idempotent; the signal keeps its current state. */
  clear(): void;
  /** Same as `clear()`, for `using d = deadline(...)`. */
  [Symbol.dispose](): void;
}

export interface DeadlineOptions {
  /**
   * Keep the process alive while the deadline is pending (default true: a bound on work that holds
   * nothing else alive, such as a tool that ignores its signal, must still fire).
   */
  ref?: boolean;
  /** A monotonic clock in ms, for tests; default `performance.now`. */
  now?: () => number;
}

/**
 * A deadline of `ms` milliseconds (undefined: no time bound, only the parents) linked to `parents`
 * (undefined entries are skipped). `what` names the bounded work in the timeout message.
 */
export function deadline(
  ms: number | undefined,
  parents: readonly (AbortSignal | undefined)[] = [],
  what = 'operation',
  options: DeadlineOptions = {},
): Deadline {
  const now = options.now ?? (() => performance.now());
  const controller = new AbortController();
  const unlinks: (() => void)[] = [];
  let timer: ReturnType<typeof setTimeout> | undefined;
  let expired = false;
  const bounded = ms !== undefined && Number.isFinite(ms);
  const delay = bounded ? Math.min(Math.max(0, ms), MAX_TIMER_MS) : undefined;
  const endsAt = delay === undefined ? Number.POSITIVE_INFINITY : now() + delay;

  const clear = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    for (const unlink of unlinks.splice(0)) unlink();
  };
  const abort = (reason: unknown): void => {
    if (controller.signal.aborted) return;
    clear();
    controller.abort(reason);
  };

  for (const parent of parents) {
    if (parent === undefined) continue;
    if (parent.aborted) {
      abort(parent.reason);
      break;
    }
    const onAbort = (): void => abort(parent.reason);
    parent.addEventListener('abort', onAbort, { once: true });
    unlinks.push(() => parent.removeEventListener('abort', onAbort));
  }
  if (delay !== undefined && !controller.signal.aborted) {
    timer = setTimeout(() => {
      timer = undefined;
      expired = true;
      abort(
        new TimeoutError(`${what} timed out after ${formatMs(delay)}`, { details: { timeoutMs: delay } }),
      );
    }, delay);
    if (options.ref === false) timer.unref();
  }

  return {
    signal: controller.signal,
    get expired() {
      return expired;
    },
    remainingMs: () => (controller.signal.aborted ? 0 : Math.max(0, endsAt - now())),
    clear,
    [Symbol.dispose]: clear,
  };
}

/**
 * Runs `work` with a deadline's signal and clears the deadline when it settles, whatever happens.
 */
export async function withDeadline<T>(
  ms: number | undefined,
  parents: readonly (AbortSignal | undefined)[],
  what: string,
  work: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const d = deadline(ms, parents, what);
  try {
    return await work(d.signal);
  } finally {
    d.clear();
  }
}

/** True when `signal` was aborted by a deadline (its reason is a {@link TimeoutError}). */
export function isDeadlineAbort(signal: AbortSignal): boolean {
  return signal.aborted && signal.reason instanceof TimeoutError;
}

function formatMs(ms: number): string {
  return ms >= 1000 && ms % 100 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
