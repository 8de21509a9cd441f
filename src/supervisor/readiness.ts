/**
 * Readiness of a freshly started child: K consecutive successful probes (default 3) every
 * `intervalMs` (default 50 ms, see {@link DEFAULT_HEALTH_INTERVAL_MS}), bounded by `timeoutMs`,
 * failing at once when the child
 * exits. A probe succeeds only when the endpoint answers (HTTP 200-499 on the health path or on `/`,
 * ComfyGit's rule, or a TCP connect) AND, where /proc can tell, the listening socket belongs to the child's process group,
 * so an old child or a stranger still holding the port never makes a new child look ready.
 */
import { type ProbeResult, probeHttp, probeTcp } from '../core/probe.ts';
import { waitHealthy } from '../core/wait-healthy.ts';
import type { EnvironmentSpec } from './environment.ts';
import { baseUrl } from './server-args.ts';
import { portOwnership } from './socket-owner.ts';

/** Options of {@link waitChildReady}. */
export interface ReadinessOptions {
  /** Consecutive successes needed (default 3). */
  consecutive?: number;
  intervalMs?: number;
  timeoutMs: number;
  /** Bound on one probe (default 2000 ms, ComfyGit's). */
  probeTimeoutMs?: number;
  signal?: AbortSignal;
  /** Settles when the child exits: readiness fails at once. */
  exited?: Promise<unknown>;
  onProbe?: (result: ProbeResult, attempt: number) => void;
}

/** Outcome of {@link waitChildReady}. */
export type ReadinessResult =
  | { ok: true; attempts: number; elapsedMs: number }
  | { ok: false; reason: 'timeout' | 'exited' | 'aborted'; attempts: number; message: string };

/**
 * Default probe interval (ms). A probe is one local GET (or connect), so probing often costs
 * nothing, while every interval adds to each restart and switch: 3 successes 50 ms apart keep the
 * supervisor's own overhead near 0.15 s (bench/supervisor.bench.ts). The original's 2 s spacing
 * cost about 6 s per restart. Raise it with --health-interval for servers with expensive health
 * endpoints.
 */
export const DEFAULT_HEALTH_INTERVAL_MS = 50;
/** Default consecutive successes for ready. */
export const DEFAULT_READY_CONSECUTIVE = 3;
/** Default bound on one probe (ms, ComfyGit's 2 s). */
export const DEFAULT_PROBE_TIMEOUT_MS = 2000;

/** One probe of `spec`'s endpoint, counted only when the listener belongs to group `pgid`. */
export function childProbe(
  spec: Pick<EnvironmentSpec, 'host' | 'port' | 'health'>,
  pgid: number,
  probeTimeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
): (signal: AbortSignal) => Promise<ProbeResult> {
  return async (signal) => {
    const result =
      spec.health.kind === 'http'
        ? await probeHttpPath(spec, spec.health.path, probeTimeoutMs, signal)
        : await probeTcp({ host: spec.host, port: spec.port, timeoutMs: probeTimeoutMs, signal });
    if (!result.ok) return result;
    const owner = await portOwnership(spec.port, pgid);
    if (owner.status === 'foreign' || owner.status === 'none') {
      const by =
        owner.status === 'foreign' && owner.holders.length > 0
          ? `pid ${owner.holders.join(', ')}`
          : 'another process';
      return {
        ok: false,
        reason: 'error',
        message: `port ${spec.port} answers, but its listener is held by ${by}, not by the child (group ${pgid})`,
        latencyMs: result.latencyMs,
      };
    }
    return result;
  };
}

/**
 * ComfyGit's HTTP readiness rule: any status from 200 to 499 means the server is up (a ComfyUI
 * behind a login extension answers 401), and when the health path answers otherwise (5xx) or
 * breaks the exchange, `/` is tried once before the probe counts as failed.
 */
async function probeHttpPath(
  spec: Pick<EnvironmentSpec, 'host' | 'port'>,
  path: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<ProbeResult> {
  const probe = (p: string) =>
    probeHttp({ url: `${baseUrl(spec.host, spec.port)}${p}`, timeoutMs, signal, okStatus: isUpStatus });
  const first = await probe(path);
  if (first.ok || path === '/' || (first.reason !== 'http_status' && first.reason !== 'error')) return first;
  const fallback = await probe('/');
  return fallback.ok ? fallback : first;
}

/** HTTP statuses that count as "the server is up" (ComfyGit's rule). Pure. */
export function isUpStatus(status: number): boolean {
  return status >= 200 && status < 500;
}

/** Waits until the child in group `pgid` serving `spec` is ready (see the module comment). */
export async function waitChildReady(
  spec: Pick<EnvironmentSpec, 'host' | 'port' | 'health'>,
  pgid: number,
  options: ReadinessOptions,
): Promise<ReadinessResult> {
  const result = await waitHealthy(childProbe(spec, pgid, options.probeTimeoutMs), {
    consecutive: options.consecutive ?? DEFAULT_READY_CONSECUTIVE,
    intervalMs: options.intervalMs ?? DEFAULT_HEALTH_INTERVAL_MS,
    timeoutMs: options.timeoutMs,
    signal: options.signal,
    exited: options.exited,
    onProbe: options.onProbe,
  });
  if (result.ok) return { ok: true, attempts: result.attempts, elapsedMs: result.elapsedMs };
  const last = result.last && !result.last.ok ? `; last probe: ${result.last.message}` : '';
  const message =
    result.reason === 'timeout'
      ? `not ready after ${options.timeoutMs} ms (${result.attempts} probes${last})`
      : result.reason === 'exited'
        ? 'the child exited before it was ready'
        : 'readiness check aborted';
  return { ok: false, reason: result.reason, attempts: result.attempts, message };
}
