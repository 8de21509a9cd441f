/**
 * The optional liveness probe (kubelet's model: `periodSeconds`, `timeoutSeconds`,
 * `failureThreshold`, success threshold 1): while the child runs, probe it every period; after
 * `failureThreshold` failures in a row it is restarted, the reason logged. Off unless an
 * environment asks for it in marshal-env.yaml (`liveness:`), as ComfyGit never probes a running
 * ComfyUI. A probe counts only when the listener is the child's (readiness.ts childProbe).
 */
import { sleep } from '../core/async.ts';
import { isAbortError } from '../core/errors.ts';
import type { ProbeResult } from '../core/probe.ts';

/** An environment's liveness probe. */
export interface LivenessSpec {
  /** What is probed (the same shape as an environment's readiness check). */
  check: { kind: 'http'; path: string } | { kind: 'tcp' };
  periodMs: number;
  failureThreshold: number;
  timeoutMs: number;
}

/** kubelet's defaults: every 10 s, 1 s per probe, 3 failures in a row. */
export const LIVENESS_DEFAULTS = { periodMs: 10_000, timeoutMs: 1000, failureThreshold: 3 } as const;

/**
 * Probes every `periodMs` until `signal` aborts (resolves null) or `failureThreshold` probes in a
 * row fail (resolves with the last failure's message).
 */
export async function watchLiveness(
  probe: (signal: AbortSignal) => Promise<ProbeResult>,
  o: { periodMs: number; failureThreshold: number; signal: AbortSignal },
): Promise<{ failures: number; message: string } | null> {
  let failures = 0;
  try {
    for (;;) {
      await sleep(o.periodMs, { signal: o.signal });
      const r = await probe(o.signal);
      if (o.signal.aborted) return null;
      if (r.ok) {
        failures = 0;
        continue;
      }
      failures++;
      if (failures >= o.failureThreshold) return { failures, message: r.message };
    }
  } catch (err) {
    if (isAbortError(err) || o.signal.aborted) return null;
    throw err;
  }
}
