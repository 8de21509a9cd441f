/**
 * Small async primitives that every wait in marshal goes through: abortable sleep, deferreds, and
 * retry with exponential backoff, full jitter and `Retry-After`. Time bounds come from
 * {@link deadline} (`./deadline.ts`); the waits here hold their own timers strongly, so none of
 * them can be lost to garbage collection.
 */
import { MAX_TIMER_MS } from './deadline.ts';
import { AbortedError, InvalidInputError, isAbortError } from './errors.ts';

/** Turns a signal's abort reason into an {@link AbortedError} (kept as `cause`). */
export function abortedErrorFrom(signal: AbortSignal): AbortedError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortedError) return reason;
  const message = reason instanceof Error && reason.name === 'TimeoutError' ? 'timed out' : 'aborted';
  return new AbortedError(message, { cause: reason });
}

/** Throws an {@link AbortedError} when `signal` is already aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedErrorFrom(signal);
}

/**
 * Resolves after `ms` milliseconds. Rejects with {@link AbortedError} (cause: the signal's reason)
 * as soon as `signal` aborts, and clears its timer so an aborted sleep keeps nothing alive.
 */
export function sleep(ms: number, options: { signal?: AbortSignal | undefined } = {}): Promise<void> {
  const { signal } = options;
  if (signal?.aborted) return Promise.reject(abortedErrorFrom(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortedErrorFrom(signal!));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      // setTimeout turns anything above 2^31-1 ms into 1 ms: clamp instead (about 24.8 days).
      Math.min(Math.max(0, ms), MAX_TIMER_MS),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A promise with its resolve/reject exposed (Node 20 lacks `Promise.withResolvers`). */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

/** Creates a {@link Deferred}. */
export function deferred<T>(): Deferred<T> {
  let resolve!: Deferred<T>['resolve'];
  let reject!: Deferred<T>['reject'];
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface BackoffOptions {
  /** Base delay for attempt 0; default 1000 ms. */
  baseDelayMs?: number;
  /** Upper bound of the exponential term; default 30000 ms. */
  maxDelayMs?: number;
  /** Random source in [0, 1); inject for deterministic tests. Default `Math.random`. */
  random?: () => number;
}

/**
 * Full-jitter backoff: `random() * min(maxDelayMs, baseDelayMs * 2^attempt)` (attempt is 0-based:
 * the delay before the first retry uses attempt 0).
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const { baseDelayMs = 1000, maxDelayMs = 30_000, random = Math.random } = options;
  const ceiling = Math.min(maxDelayMs, baseDelayMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

/**
 * Parses an HTTP `Retry-After` value (delta seconds or an HTTP-date) into milliseconds from
 * `nowMs`. Returns undefined for a missing or unparsable value; a date in the past gives 0.
 */
export function parseRetryAfter(headerValue: string | null | undefined, nowMs: number): number | undefined {
  if (headerValue === null || headerValue === undefined) return undefined;
  const text = headerValue.trim();
  if (text === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // Only accept things that look like an HTTP-date, not any string Date.parse happens to take.
  if (!/[A-Za-z]{3}/.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

export interface RetryOptions extends BackoffOptions {
  /** Retries after the first attempt (total attempts = retries + 1). */
  retries: number;
  signal?: AbortSignal | undefined;
  /** Whether `err` (thrown by attempt `attempt`) is worth retrying. Default: anything but an abort. */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** The server-requested delay carried by `err` (e.g. a 429's Retry-After), in ms. */
  retryAfterMs?: (err: unknown) => number | undefined;
  /**
   * Cap on a server-requested delay; default 60000 ms. A Retry-After wins over the computed backoff
   * (it may exceed `maxDelayMs`) but never makes us wait longer than this.
   */
  maxRetryAfterMs?: number;
  onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
}

/**
 * Calls `fn(attempt, signal)` until it resolves, retrying failures that `shouldRetry` accepts up to
 * `retries` times. Between attempts it waits `min(retryAfterMs(err), maxRetryAfterMs)` when the
 * error carries a Retry-After, else {@link backoffDelay}. Aborting `signal` interrupts the wait and
 * rejects with {@link AbortedError}; the last error is rethrown when retries run out.
 */
export async function retry<T>(
  fn: (attempt: number, signal: AbortSignal | undefined) => Promise<T>,
  options: RetryOptions,
): Promise<T> {
  const { retries, signal, shouldRetry = (err) => !isAbortError(err), retryAfterMs } = options;
  const { maxRetryAfterMs = 60_000, onRetry } = options;
  if (!Number.isInteger(retries) || retries < 0) {
    throw new InvalidInputError('retries', retries, 'expected a non-negative integer');
  }
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(signal);
    try {
      return await fn(attempt, signal);
    } catch (error) {
      if (signal?.aborted) throw abortedErrorFrom(signal);
      if (attempt >= retries || !shouldRetry(error, attempt)) throw error;
      const requested = retryAfterMs?.(error);
      const delayMs =
        requested !== undefined && Number.isFinite(requested) && requested >= 0
          ? Math.min(requested, maxRetryAfterMs)
          : backoffDelay(attempt, options);
      onRetry?.({ attempt, delayMs, error });
      await sleep(delayMs, { signal });
    }
  }
}
