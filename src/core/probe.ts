/**
 * Health probes: one TCP connect or one HTTP GET, each bounded by a per-attempt timeout, returning
 * the outcome as data. {@link waitHealthy} turns repeated probes into a readiness decision.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { abortedErrorFrom } from './async.ts';
import { deadline } from './deadline.ts';
import { InvalidInputError } from './errors.ts';

/** One probe's outcome. `status` is the HTTP status when a response arrived. */
export type ProbeResult =
  | { ok: true; latencyMs: number; status?: number }
  | {
      ok: false;
      reason: 'refused' | 'timeout' | 'http_status' | 'error';
      status?: number;
      message: string;
      latencyMs: number;
    };

export interface ProbeTcpOptions {
  host?: string;
  port: number;
  /** Per-attempt bound; default 2000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface ProbeHttpOptions {
  url: string;
  /** Bound on connect + response + body; default 2000 ms. */
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Body bytes read (and discarded) before the response is cut off; default 64 KiB. */
  maxBodyBytes?: number;
  /** Which statuses count as healthy; default 200-399. */
  okStatus?: (status: number) => boolean;
}

type Settle = (result: ProbeResult | Error) => void;

/**
 * Runs one probe attempt: `start(settle)` begins the I/O and returns its cleanup. The attempt ends
 * at the first settle, at `timeoutMs` (reason 'timeout') or when `signal` aborts (rejects with
 * AbortedError: an abort is the caller's decision, not a probe outcome).
 */
function attempt(
  timeoutMs: number,
  signal: AbortSignal | undefined,
  start: (settle: Settle, t0: number) => () => void,
): Promise<ProbeResult> {
  if (signal?.aborted) return Promise.reject(abortedErrorFrom(signal));
  const t0 = performance.now();
  return new Promise<ProbeResult>((resolve, reject) => {
    let done = false;
    let cleanup: () => void = () => {};
    const bound = deadline(timeoutMs, [signal], 'probe');
    const settle: Settle = (result) => {
      if (done) return;
      done = true;
      bound.clear();
      bound.signal.removeEventListener('abort', onEnd);
      cleanup();
      if (result instanceof Error) reject(result);
      else resolve(result);
    };
    const onEnd = (): void => {
      if (!bound.expired) {
        settle(abortedErrorFrom(signal!));
        return;
      }
      settle({
        ok: false,
        reason: 'timeout',
        message: `no answer within ${timeoutMs} ms`,
        latencyMs: elapsed(t0),
      });
    };
    bound.signal.addEventListener('abort', onEnd, { once: true });
    cleanup = start(settle, t0);
    if (done) cleanup();
  });
}

function elapsed(t0: number): number {
  return Math.round((performance.now() - t0) * 10) / 10;
}

function failure(err: unknown, t0: number): ProbeResult {
  const code = (err as NodeJS.ErrnoException).code;
  const message = err instanceof Error ? err.message : String(err);
  return {
    ok: false,
    reason: code === 'ECONNREFUSED' ? 'refused' : 'error',
    message,
    latencyMs: elapsed(t0),
  };
}

/** Tries one TCP connection to `host:port` (default host 127.0.0.1). */
export function probeTcp(options: ProbeTcpOptions): Promise<ProbeResult> {
  const { host = '127.0.0.1', port, timeoutMs = 2000, signal } = options;
  if (!Number.isInteger(port) || port < 1 || port > 65_535) {
    return Promise.reject(new InvalidInputError('port', port, 'expected an integer in 1..65535'));
  }
  return attempt(timeoutMs, signal, (settle, t0) => {
    const socket = connect({ host, port });
    socket.once('connect', () => settle({ ok: true, latencyMs: elapsed(t0) }));
    socket.on('error', (err) => settle(failure(err, t0)));
    return () => socket.destroy();
  });
}

/** Sends one HTTP(S) GET to `url`; healthy when `okStatus(status)`; the body is drained up to a cap. */
export function probeHttp(options: ProbeHttpOptions): Promise<ProbeResult> {
  const { url, timeoutMs = 2000, signal, maxBodyBytes = 64 * 1024 } = options;
  const okStatus = options.okStatus ?? ((s: number) => s >= 200 && s < 400);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return Promise.reject(new InvalidInputError('url', url, 'expected an absolute http(s) URL'));
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return Promise.reject(new InvalidInputError('url', url, 'expected an http: or https: URL'));
  }
  const request = parsed.protocol === 'https:' ? httpsRequest : httpRequest;
  return attempt(timeoutMs, signal, (settle, t0) => {
    const req = request(
      parsed,
      { method: 'GET', headers: { connection: 'close' } },
      (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        const finish = (): void => {
          const latencyMs = elapsed(t0);
          settle(
            okStatus(status)
              ? { ok: true, latencyMs, status }
              : { ok: false, reason: 'http_status', status, message: `HTTP ${status}`, latencyMs },
          );
        };
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read >= maxBodyBytes) finish(); // enough: cleanup destroys the response
        });
        res.once('end', finish);
        res.on('error', (err) => settle(failure(err, t0)));
      },
    );
    req.on('error', (err) => settle(failure(err, t0)));
    req.end();
    return () => req.destroy();
  });
}
