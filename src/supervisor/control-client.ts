/**
 * Client side of the control API, used by the CLI commands: find the running supervisor's port and
 * token in `.metadata/`, send a request with a bounded wait, and tell "nobody answers" apart from
 * "answered with an error".
 */

import { readFile } from 'node:fs/promises';
import { deadline } from '../core/deadline.ts';
import { isAbortError, MarshalError } from '../core/errors.ts';
import { readControlToken } from './control-auth.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';

export interface ControlEndpoint {
  port: number;
  /** Absent when the token file is missing (only /health is usable then). */
  token: string | undefined;
}

/** Reads `.control_port` (and the token); undefined when no port is advertised. */
export async function readControlEndpoint(files: {
  portFile: string;
  tokenFile: string;
}): Promise<ControlEndpoint | undefined> {
  const text = await readFile(files.portFile, 'utf8').catch(() => undefined);
  const port = text === undefined ? Number.NaN : Number(text.trim());
  if (!Number.isInteger(port) || port < 1 || port > 65535) return undefined;
  const token = await readControlToken(files.tokenFile).catch(() => undefined);
  return { port, token };
}

export interface ControlResponse {
  status: number;
  body: unknown;
}

export interface ControlRequestOptions {
  body?: unknown;
  signal?: AbortSignal;
  /** Bound on the whole request; default 3000 ms. */
  timeoutMs?: number;
}

/**
 * Sends one request to the control API. Resolves with any HTTP answer; rejects with
 * 'E_CONTROL_UNREACHABLE' when the connection fails or times out, and with an abort error when
 * `signal` aborts.
 */
export async function controlRequest(
  endpoint: ControlEndpoint,
  method: 'GET' | 'POST',
  path: string,
  options: ControlRequestOptions = {},
): Promise<ControlResponse> {
  const bound = deadline(options.timeoutMs ?? 3000, [options.signal], `control API ${method} ${path}`);
  const headers: Record<string, string> = {};
  if (endpoint.token) headers.authorization = `Bearer ${endpoint.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  try {
    const res = await fetch(`http://127.0.0.1:${endpoint.port}${path}`, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      signal: bound.signal,
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // Leave non-JSON bodies as text.
    }
    return { status: res.status, body };
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw new MarshalError(
      SUPERVISOR_ERRORS.E_CONTROL_UNREACHABLE,
      `the supervisor control API on 127.0.0.1:${endpoint.port} did not answer ${method} ${path}`,
      { cause: err, details: { port: endpoint.port, path, timedOut: bound.expired || isAbortError(err) } },
    );
  } finally {
    bound.clear();
  }
}

/** Whether the control API on `port` answers GET /health with `status: alive` (bounded). */
export async function controlHealthy(
  port: number,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
) {
  try {
    const res = await controlRequest({ port, token: undefined }, 'GET', '/health', {
      timeoutMs: options.timeoutMs ?? 1000,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const body = res.body as { status?: unknown; pid?: unknown } | undefined;
    if (res.status !== 200 || body?.status !== 'alive') return undefined;
    return { pid: typeof body.pid === 'number' ? body.pid : undefined };
  } catch (err) {
    if (options.signal?.aborted) throw err;
    return undefined;
  }
}

/** Turns a non-2xx control answer into an error naming the route and what the server said. */
export function rejectedError(path: string, res: ControlResponse): MarshalError {
  const body = res.body as { error?: unknown; message?: unknown } | undefined;
  const said =
    typeof body?.message === 'string' ? body.message : typeof body?.error === 'string' ? body.error : '';
  const hint =
    res.status === 401
      ? 'the token in .metadata/.control_token does not match the running supervisor'
      : undefined;
  return new MarshalError(
    SUPERVISOR_ERRORS.E_CONTROL_REJECTED,
    `the supervisor refused ${path}: HTTP ${res.status}${said ? ` (${said})` : ''}`,
    { details: { path, status: res.status, body: res.body }, ...(hint ? { hint } : {}) },
  );
}
