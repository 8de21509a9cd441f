/**
 * One adaptive concurrency limiter per endpoint (AIMD, as TCP's congestion window): every request
 * to a base URL, from every agent, the decomposition and the combine step of a run, and from
 * every run in the process that uses the same base URL, takes a slot first.
 *
 * - The window starts at the cap (`--concurrency`, default no cap).
 * - A 429 halves it (multiplicative decrease), at most once per window: the 429s of requests sent
 *   before the last decrease are the same congestion and do not halve it again. The first 429
 *   with no cap halves the number of requests in flight at that moment.
 * - Each success adds 1/window (additive increase: about one more slot per window of successes),
 *   up to the cap.
 * - A `Retry-After` / `retry-after-ms` pauses every new request to the endpoint until it passes
 *   (bounded by {@link MAX_PAUSE_MS}), not only the one that got it.
 *
 * The arithmetic is pure ({@link aimdDecrease}, {@link aimdIncrease}); the limiter holds no timer
 * except while paused, and a waiter's abort takes it out of the queue.
 */
import { abortedErrorFrom } from '../../core/async.ts';

/** The least window: one request at a time. */
export const MIN_WINDOW = 1;
/** Longest pause a server can impose on the whole endpoint through Retry-After. */
export const MAX_PAUSE_MS = 60_000;

/** The window after a 429 seen with `inFlight` requests out (this one included). Pure. */
export function aimdDecrease(window: number, inFlight: number): number {
  const base = Number.isFinite(window) ? Math.min(window, Math.max(inFlight, MIN_WINDOW)) : inFlight;
  return Math.max(MIN_WINDOW, Math.floor(base / 2));
}

/** The window after a success: + 1/window, at most `cap`. Pure. */
export function aimdIncrease(window: number, cap: number): number {
  if (!Number.isFinite(window)) return window;
  return Math.min(cap, window + 1 / Math.max(MIN_WINDOW, Math.floor(window)));
}

/** How a request ended, for the window. */
export type SlotOutcome = 'ok' | 'throttled' | 'other';

/** A held slot: release it exactly once (later calls are ignored). */
export interface LimiterSlot {
  release(outcome: SlotOutcome, retryAfterMs?: number): void;
}

export interface LimiterSnapshot {
  window: number;
  cap: number;
  inFlight: number;
  queued: number;
  pausedForMs: number;
  /** 429s that lowered the window / all 429s seen. */
  decreases: number;
  throttled: number;
}

interface Waiter {
  grant: (slot: LimiterSlot) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

/** The limiter of one endpoint. Use {@link endpointLimiter} to get the shared one. */
export class EndpointLimiter {
  #cap: number;
  #window: number;
  #inFlight = 0;
  #epoch = 0;
  #pausedUntil = 0;
  #pauseTimer: NodeJS.Timeout | undefined;
  #decreases = 0;
  #throttled = 0;
  readonly #queue: Waiter[] = [];
  readonly #now: () => number;

  constructor(options: { cap?: number | undefined; now?: () => number } = {}) {
    this.#cap = options.cap ?? Number.POSITIVE_INFINITY;
    this.#window = this.#cap;
    this.#now = options.now ?? Date.now;
  }

  /** Sets the cap (max in flight); the window never exceeds it. Undefined: no cap. */
  setCap(cap: number | undefined): void {
    this.#cap = cap ?? Number.POSITIVE_INFINITY;
    if (this.#window > this.#cap || !Number.isFinite(this.#window)) this.#window = this.#cap;
    this.#pump();
  }

  snapshot(): LimiterSnapshot {
    return {
      window: this.#window,
      cap: this.#cap,
      inFlight: this.#inFlight,
      queued: this.#queue.length,
      pausedForMs: Math.max(0, this.#pausedUntil - this.#now()),
      decreases: this.#decreases,
      throttled: this.#throttled,
    };
  }

  /** Waits for a slot (FIFO); rejects with AbortedError when `signal` aborts first. */
  acquire(signal?: AbortSignal): Promise<LimiterSlot> {
    if (signal?.aborted) return Promise.reject(abortedErrorFrom(signal));
    if (this.#queue.length === 0 && this.#canStart()) return Promise.resolve(this.#take());
    return new Promise<LimiterSlot>((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#queue.indexOf(waiter);
          if (i >= 0) this.#queue.splice(i, 1);
          // No waiter, no timer: nothing keeps the process alive for a pause nobody waits out.
          if (this.#queue.length === 0 && this.#pauseTimer !== undefined) {
            clearTimeout(this.#pauseTimer);
            this.#pauseTimer = undefined;
          }
          reject(abortedErrorFrom(signal!));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#queue.push(waiter);
      this.#schedulePauseEnd();
    });
  }

  #canStart(): boolean {
    return this.#inFlight < Math.floor(this.#window) && this.#now() >= this.#pausedUntil;
  }

  #take(): LimiterSlot {
    this.#inFlight++;
    const epoch = this.#epoch;
    let released = false;
    return {
      release: (outcome, retryAfterMs) => {
        if (released) return;
        released = true;
        this.#release(epoch, outcome, retryAfterMs);
      },
    };
  }

  #release(epoch: number, outcome: SlotOutcome, retryAfterMs: number | undefined): void {
    if (outcome === 'throttled') {
      this.#throttled++;
      // Only a request sent after the last decrease tells something new about the endpoint.
      if (epoch === this.#epoch) {
        this.#window = aimdDecrease(this.#window, this.#inFlight);
        this.#epoch++;
        this.#decreases++;
      }
    } else if (outcome === 'ok') {
      this.#window = aimdIncrease(this.#window, this.#cap);
    }
    this.#inFlight--;
    if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0) {
      this.#pausedUntil = Math.max(this.#pausedUntil, this.#now() + Math.min(retryAfterMs, MAX_PAUSE_MS));
    }
    this.#pump();
  }

  #pump(): void {
    while (this.#queue.length > 0 && this.#canStart()) {
      const waiter = this.#queue.shift()!;
      waiter.signal?.removeEventListener('abort', waiter.onAbort);
      waiter.grant(this.#take());
    }
    this.#schedulePauseEnd();
  }

  /** While paused with waiters, one timer wakes the queue when the pause ends. */
  #schedulePauseEnd(): void {
    if (this.#pauseTimer !== undefined || this.#queue.length === 0) return;
    const wait = this.#pausedUntil - this.#now();
    if (wait <= 0) return;
    this.#pauseTimer = setTimeout(() => {
      this.#pauseTimer = undefined;
      this.#pump();
    }, wait);
  }
}

const LIMITERS = new Map<string, EndpointLimiter>();

/**
 * The process-wide limiter of `baseUrl` (credentials and trailing slashes do not make another
 * one). `cap` becomes its cap (the last caller's wins; undefined: no cap); the window it learnt
 * from 429s is kept.
 */
export function endpointLimiter(baseUrl: string, cap?: number): EndpointLimiter {
  const key = baseUrl.replace(/\/+$/, '');
  let limiter = LIMITERS.get(key);
  if (limiter === undefined) {
    limiter = new EndpointLimiter({ cap });
    LIMITERS.set(key, limiter);
  } else limiter.setCap(cap);
  return limiter;
}
