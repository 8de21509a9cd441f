/**
 * The supervisor's HTTP control API, bound to 127.0.0.1 on the first free port of a range. It
 * speaks ComfyGit's orchestrator and observer surface (what the ComfyGit Manager panel's proxy
 * `server/api/v2/orchestrator_proxy.py` and the switch observer of `comfygit_core.lifecycle`
 * call) plus marshal's own routes:
 *
 *   GET  /health                  open: {status:'alive', port, pid}
 *   GET  /v2/comfygit/supervisor/health   same
 *   GET  /status                  local: the switch-status document (`.switch_status.json`), or
 *   GET  /v2/comfygit/switch_status       {state:'idle', progress:0, message, current_env}
 *   GET  /logs?n=80[&follow=1]    local: {logs:[...]}; with follow, JSONL chunks until the client leaves
 *   GET  /v2/comfygit/switch_logs same (the last 80 lines)
 *   GET  /marshal/status          local: marshal's own status document
 *   POST /restart                 local: restart the child
 *   POST /switch {target}         local: switch environments (409 when one is in progress)
 *   POST /stop  (ComfyGit: /kill) local: stop supervising and exit
 *
 * "local" means: `Authorization: Bearer <.control_token>`, or a request without an `Origin` header
 * from a loopback peer whose socket belongs to the same user as the supervisor (checked in
 * /proc/net/tcp, see peer-owner.ts). ComfyGit's panel proxies without a token; a browser always
 * sends `Origin` on a cross-origin POST, so a web page cannot drive the API, and other users of the
 * machine still need the token. Every request must name a loopback Host (DNS rebinding), bodies
 * are capped and no CORS header is ever sent.
 *
 * While listening, `.metadata/.supervisor_control.json` advertises `{host, port, kind:
 * "manager_orchestrator"}` (ComfyGit's observer advertisement); it is removed at close if still ours.
 */
import { readFile, unlink } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { MarshalError } from '../core/errors.ts';
import { bearerMatches, createControlToken, isLoopbackHost } from './control-auth.ts';
import { handleLogs } from './control-logs.ts';
import { peerUid } from './peer-owner.ts';
import { listenInRange, type PortRange } from './port-range.ts';
import { readProtocolFile, SwitchStatusSchema } from './protocol.ts';

/** What the API drives; a `SupervisorHandle` fits structurally. */
export interface ControlTarget {
  status(): { environment: string | null };
  restart(): unknown;
  switchTo(target: string): Promise<void>;
  stop(): Promise<void>;
}

export interface ControlApiOptions {
  target: ControlTarget;
  /** `.metadata/.control_port`, written atomically once listening; its folder holds the other protocol files. */
  portFile: string;
  /** `.metadata/.control_token`, created fresh (0600) at start. */
  tokenFile: string;
  /** The JSONL log served by /logs (supervisor-switch.log). */
  logFile: string;
  /** Ports to try in order; default 5050-5100. `{from: 0, to: 0}` takes an ephemeral port. */
  ports?: PortRange;
  /** Largest accepted request body; default 4096 bytes. */
  maxBodyBytes?: number;
  /** Poll interval of /logs?follow=1; default 250 ms. */
  followIntervalMs?: number;
}

export interface ControlApi {
  port: number;
  token: string;
  close(): Promise<void>;
}

const SwitchBody = z.strictObject({ target: z.string().min(1).max(200) });

/** Starts the control API; closing it removes the port and token files when they are still ours. */
export async function startControlApi(options: ControlApiOptions): Promise<ControlApi> {
  const token = await createControlToken(options.tokenFile);
  const closing = new AbortController();
  const server = createServer((req, res) => {
    route(req, res, options, token, closing.signal, port).catch((err: unknown) => {
      if (!res.headersSent)
        send(res, 500, { error: 'internal', message: String((err as Error)?.message ?? err) });
      else res.destroy();
    });
  });
  server.headersTimeout = 5000;
  server.requestTimeout = 10_000;
  server.keepAliveTimeout = 1000;
  let port: number;
  try {
    port = await listenInRange(server, options.ports ?? { from: 5050, to: 5100 });
    await writeFileAtomic(options.portFile, `${port}\n`);
    await writeFileAtomic(advertisementFile(options), `${JSON.stringify(advertisement(port))}\n`);
  } catch (err) {
    server.close();
    await unlink(options.tokenFile).catch(() => undefined);
    throw err;
  }
  let closed: Promise<void> | undefined;
  return {
    port,
    token,
    close() {
      closed ??= (async () => {
        closing.abort();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await removeIfContent(options.portFile, String(port));
        await removeIfContent(advertisementFile(options), JSON.stringify(advertisement(port)));
        await removeIfContent(options.tokenFile, token);
      })();
      return closed;
    },
  };
}

/** Method and access of each route ('open': anyone naming a loopback Host). */
const ROUTES: Record<string, { method: 'GET' | 'POST'; access: 'open' | 'local' }> = {
  '/health': { method: 'GET', access: 'open' },
  '/v2/comfygit/supervisor/health': { method: 'GET', access: 'open' },
  '/status': { method: 'GET', access: 'local' },
  '/v2/comfygit/switch_status': { method: 'GET', access: 'local' },
  '/logs': { method: 'GET', access: 'local' },
  '/v2/comfygit/switch_logs': { method: 'GET', access: 'local' },
  '/marshal/status': { method: 'GET', access: 'local' },
  '/restart': { method: 'POST', access: 'local' },
  '/switch': { method: 'POST', access: 'local' },
  '/stop': { method: 'POST', access: 'local' },
  '/kill': { method: 'POST', access: 'local' },
};

async function route(
  req: IncomingMessage,
  res: ServerResponse,
  options: ControlApiOptions,
  token: string,
  closing: AbortSignal,
  port: number,
): Promise<void> {
  if (!isLoopbackHost(req.headers.host)) return send(res, 403, { error: 'forbidden_host' });
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const method = req.method ?? 'GET';
  const spec = ROUTES[path];
  if (!spec) return send(res, 404, { error: 'not_found' });
  if (spec.access === 'local' && !(await isLocalClient(req, token))) {
    res.setHeader('WWW-Authenticate', 'Bearer');
    return send(res, 401, { error: 'unauthorized' });
  }
  if (method !== spec.method) return send(res, 405, { error: 'method_not_allowed' });
  const body = await readBody(req, options.maxBodyBytes ?? 4096);
  if (body === undefined) return send(res, 413, { error: 'body_too_large' });
  switch (path) {
    case '/health':
    case '/v2/comfygit/supervisor/health':
      return send(res, 200, { status: 'alive', port, pid: process.pid });
    case '/status':
    case '/v2/comfygit/switch_status':
      return send(res, 200, await switchStatusDocument(options));
    case '/marshal/status':
      return send(res, 200, options.target.status());
    case '/logs':
    case '/v2/comfygit/switch_logs':
      return handleLogs(req, res, url, options.logFile, closing, options.followIntervalMs ?? 250);
    case '/restart':
      await options.target.restart();
      return send(res, 200, { status: 'restart_requested', message: 'restarting the server' });
    case '/switch':
      return handleSwitch(res, body, options.target);
    default:
      send(
        res,
        200,
        path === '/kill' ? { status: 'shutting_down', message: 'stopping' } : { status: 'stopping' },
      );
      // Answer first: stopping closes this server.
      setImmediate(() => void options.target.stop().catch(() => undefined));
      return;
  }
}

/** Per connection: whether its peer is a same-user local process (a keep-alive socket is checked once). */
const localPeers = new WeakMap<Socket, Promise<boolean>>();

/** The bearer token, or no `Origin` and a loopback peer socket owned by our uid (see the module comment). */
async function isLocalClient(req: IncomingMessage, token: string): Promise<boolean> {
  if (bearerMatches(req.headers.authorization, token)) return true;
  if (req.headers.origin !== undefined) return false;
  const socket = req.socket;
  let known = localPeers.get(socket);
  if (known === undefined) {
    const uid = process.getuid?.();
    known =
      uid === undefined ||
      socket.localAddress === undefined ||
      socket.localPort === undefined ||
      socket.remoteAddress === undefined ||
      socket.remotePort === undefined
        ? Promise.resolve(false)
        : peerUid({
            localAddress: socket.localAddress,
            localPort: socket.localPort,
            remoteAddress: socket.remoteAddress,
            remotePort: socket.remotePort,
          }).then((owner) => owner === uid);
    localPeers.set(socket, known);
  }
  return known;
}

/**
 * ComfyGit's `/status`: the `.switch_status.json` document as written, or the idle document its
 * orchestrator and switch observer return when there is none.
 */
async function switchStatusDocument(options: ControlApiOptions): Promise<unknown> {
  const read = await readProtocolFile(
    join(dirname(options.portFile), '.switch_status.json'),
    SwitchStatusSchema,
  );
  if (read.status === 'ok') return read.value;
  return {
    state: 'idle',
    progress: 0,
    message: 'No switch in progress',
    current_env: options.target.status().environment,
  };
}

/** `.metadata/.supervisor_control.json` (ComfyGit's observer advertisement). */
function advertisementFile(options: ControlApiOptions): string {
  return join(dirname(options.portFile), '.supervisor_control.json');
}

function advertisement(port: number): { host: string; port: number; kind: string } {
  return { host: '127.0.0.1', port, kind: 'manager_orchestrator' };
}

async function handleSwitch(res: ServerResponse, body: string, target: ControlTarget): Promise<void> {
  let parsed: z.infer<typeof SwitchBody>;
  try {
    parsed = SwitchBody.parse(JSON.parse(body || 'null'));
  } catch {
    return send(res, 400, { error: 'invalid_body', message: 'expected JSON {"target": "<environment>"}' });
  }
  try {
    // Resolves once the switch has begun (its lock held); its outcome goes to the status file.
    await target.switchTo(parsed.target);
  } catch (err) {
    const code = err instanceof MarshalError ? err.code : 'E_INTERNAL';
    const message = err instanceof Error ? err.message : String(err);
    return send(res, httpStatusFor(err), { error: code, message });
  }
  return send(res, 202, { status: 'switching', target: parsed.target });
}

/** 409 busy, 400 bad target, 503 supervisor stopping, 500 anything else. */
function httpStatusFor(err: unknown): number {
  if (!(err instanceof MarshalError)) return 500;
  if (err.code === 'E_SUPERVISOR_STOPPED') return 503;
  if (err.exitCode === 6) return 409;
  if (err.exitCode === 2) return 400;
  return 500;
}

/** The body as text, or undefined when it exceeds `limit` bytes (the connection is then closed). */
async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Sends a JSON response that browsers and caches must not reuse. */
export function send(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...(status === 413 ? { connection: 'close' } : {}),
  });
  res.end(text);
}

async function removeIfContent(path: string, expected: string): Promise<void> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text !== undefined && text.trim() === expected) await unlink(path).catch(() => undefined);
}
