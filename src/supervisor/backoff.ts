/**
 * Crash backoff: the delay before restart number `crashes` in a row is `baseMs * 2^(crashes-1)`,
 * capped at `capMs` (1 s, 2 s, 4 s, ... 60 s with the defaults). Deterministic (no jitter: one
 * supervisor restarts one child, there is no herd to spread). Pure.
 */

/** Delay before restarting after the `crashes`-th consecutive crash (1-based). */
export function crashBackoffMs(crashes: number, baseMs: number, capMs: number): number {
  if (crashes <= 1) return Math.min(baseMs, capMs);
  // 2^40 already exceeds any cap; clamping the exponent keeps the number finite.
  return Math.min(capMs, baseMs * 2 ** Math.min(crashes - 1, 40));
}
