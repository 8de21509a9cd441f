/**
 * Readiness: repeat a probe until it succeeds K times in a row, bounded by a timeout and a signal,
 * and give up at once when the watched process exits (even mid-probe or mid-sleep).
 */
import { abortedErrorFrom, sleep } from './async.ts';
import { deadline } from './deadline.ts';
import { InvalidInputError } from './errors.ts';
import type { ProbeResult } from './probe.ts';

export interface WaitHealthyOptions {
  /** Successes in a row required; a failure resets the count. Default 3. */
  consecutive?: number;
  /** Pause between probes; default 500 ms. */
  intervalMs?: number;
  /** Overall bound. */
  timeoutMs: number;
  signal?: AbortSignal;
  /** Settles (either way) when the watched process exits: fail fast with reason 'exited'. */
  exited?: Promise<unknown>;
  onProbe?: (result: ProbeResult, attempt: number) => void;
}

export type WaitHealthyResult =
  | { ok: true; attempts: number; elapsedMs: number }
  | { ok: false; reason: 'timeout' | 'exited' | 'aborted'; attempts: number; last: ProbeResult | undefined };

const EXITED = Symbol('exited');

/** Settles with `promise`, or rejects as soon as `signal` aborts (for probe functions that ignore it). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(abortedErrorFrom(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abortedErrorFrom(signal));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Calls `probe(signal)` every `intervalMs` until `consecutive` successes in a row. The signal given
 * to the probe aborts on timeout, on `options.signal` and when `exited` settles. A probe that
 * throws counts as a failure with reason 'error'.
 *
 * @example
 * const r = await waitHealthy((signal) => probeHttp({ url, timeoutMs: 1000, signal }), {
 *   consecutive: 3, intervalMs: 200, timeoutMs: 30_000, exited: child.exited, signal,
 * });
 */
export async function waitHealthy(
  probe: (signal: AbortSignal) => Promise<ProbeResult>,
  options: WaitHealthyOptions,
): Promise<WaitHealthyResult> {
  const { consecutive = 3, intervalMs = 500, timeoutMs, signal, exited, onProbe } = options;
  if (!Number.isInteger(consecutive) || consecutive < 1) {
    throw new InvalidInputError('consecutive', consecutive, 'expected an integer >= 1');
  }
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw new InvalidInputError('timeoutMs', timeoutMs, 'expected a finite number >= 0');
  }
  const t0 = performance.now();
  // The exit watch and the caller's signal are parents of one deadline: no composite signal, and a
  // timer held strongly, so the wait ends at `timeoutMs` whatever the garbage collector does.
  const exitWatch = new AbortController();
  const onExit = (): void => exitWatch.abort(EXITED);
  exited?.then(onExit, onExit);
  const bound = deadline(timeoutMs, [exitWatch.signal, signal], 'readiness wait');

  let attempts = 0;
  let streak = 0;
  let last: ProbeResult | undefined;
  try {
    while (!bound.signal.aborted) {
      attempts++;
      try {
        last = await raceAbort(probe(bound.signal), bound.signal);
      } catch (err) {
        if (bound.signal.aborted) break;
        const message = err instanceof Error ? err.message : String(err);
        last = { ok: false, reason: 'error', message, latencyMs: 0 };
      }
      onProbe?.(last, attempts);
      streak = last.ok ? streak + 1 : 0;
      if (streak >= consecutive) {
        return { ok: true, attempts, elapsedMs: Math.round(performance.now() - t0) };
      }
      await sleep(intervalMs, { signal: bound.signal }).catch(() => {});
    }
    // The first source to abort decides: the deadline's own timer, the exit, or the caller.
    const reason = bound.expired ? 'timeout' : bound.signal.reason === EXITED ? 'exited' : 'aborted';
    return { ok: false, reason, attempts, last };
  } finally {
    bound.clear();
  }
}
