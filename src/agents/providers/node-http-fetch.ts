/**
 * A `fetch` for the model endpoints built on `node:http` / `node:https` with keep-alive agents.
 *
 * Why not the global `fetch`: on Node 20 each undici `fetch` call costs several times the CPU of
 * an `http.request` on a kept-alive socket (WHATWG Request/Response objects, web streams, and a
 * fresh connection for a request sent right after another one finished, before undici has put the
 * socket back in its pool). At 256 agents that CPU is the run's critical path
 * (bench/heavy.bench.ts). This function keeps the subset of fetch's contract the provider uses, so
 * the provider code does not change:
 *
 * - resolves to a real `Response` (status, headers, `text()`, `body`); a reply that is not an event
 *   stream is read whole before resolving (as `await fetch(); await res.text()` would, under the
 *   same signal), an event stream (`accept: text/event-stream` with a 2xx reply) is handed over as
 *   a web stream while it arrives;
 * - rejects like undici: a `TypeError('fetch failed')` whose `cause` carries the system error
 *   (`cause.code`: ECONNREFUSED, ECONNRESET, ENOTFOUND, ...); with `redirect: 'error'` a 3xx reply
 *   is `TypeError('fetch failed', {cause: Error('unexpected redirect')})`; an aborted signal
 *   rejects (or errors the body stream) with the signal's reason;
 * - gzip, deflate and br bodies are decoded (none is asked for: no `accept-encoding` is sent);
 * - idle sockets are closed after 4 s (below the common 5 s server keep-alive) and never keep the
 *   process alive.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';

/** Idle kept-alive sockets are closed after this long (servers commonly close theirs at 5 s). */
const IDLE_SOCKET_MS = 4000;

let agents: { http: HttpAgent; https: HttpsAgent } | undefined;

function agentFor(protocol: string): HttpAgent {
  agents ??= {
    http: new HttpAgent({ keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' }),
    https: new HttpsAgent({ keepAlive: true, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' }),
  };
  return protocol === 'https:' ? agents.https : agents.http;
}

/** undici's rejection shape: the provider reads `cause.code` and `cause.message`. */
function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

function headersOf(res: IncomingMessage): Headers {
  const headers = new Headers();
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
    headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
  }
  return headers;
}

/** The body as it was sent (content-encoding undone), as a Node stream. */
function decoded(res: IncomingMessage): Readable {
  const encoding = (res.headers['content-encoding'] ?? '').trim().toLowerCase();
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip'
      ? createGunzip()
      : encoding === 'deflate'
        ? createInflate()
        : encoding === 'br'
          ? createBrotliDecompress()
          : undefined;
  if (decoder === undefined) return res;
  res.on('error', (error) => decoder.destroy(error));
  return res.pipe(decoder);
}

/** Statuses whose Response must have a null body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

function headerRecord(init: RequestInit['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  if (init === undefined) return out;
  new Headers(init).forEach((value, key) => {
    out[key] = value;
  });
  return out;
}

/** `fetch(url, init)` over node:http(s); see the module comment for what it keeps of fetch. */
export function nodeHttpFetch(input: string | URL | Request, init: RequestInit = {}): Promise<Response> {
  const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
  const signal = init.signal ?? undefined;
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(fetchFailed(new Error(`unsupported protocol ${url.protocol}`)));
  }
  const body = init.body;
  if (body !== undefined && body !== null && typeof body !== 'string') {
    return Promise.reject(new TypeError('nodeHttpFetch: only string bodies are supported'));
  }
  const headers = headerRecord(init.headers);
  if (body !== undefined && body !== null) headers['content-length'] = String(Buffer.byteLength(body));
  const wantsStream = /text\/event-stream/i.test(headers.accept ?? '');
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;

  return new Promise<Response>((resolve, reject) => {
    let settled = false;
    let current: { destroy(error: unknown): void } | undefined;
    const onAbort = () => {
      const reason = signal!.reason;
      if (!settled) {
        settled = true;
        reject(reason);
      }
      req.destroy(reason instanceof Error ? reason : undefined);
      current?.destroy(reason);
    };
    const done = () => signal?.removeEventListener('abort', onAbort);
    const fail = (error: unknown) => {
      done();
      if (settled) return;
      settled = true;
      reject(error);
    };

    const req = send(url, { method: init.method ?? 'GET', headers, agent: agentFor(url.protocol) }, (res) => {
      try {
        answer(res);
      } catch (error) {
        // A reply fetch would refuse too (a status outside 200-599, a malformed header value).
        res.destroy();
        fail(fetchFailed(error));
      }
    });
    const answer = (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (init.redirect === 'error' && status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        fail(fetchFailed(new Error('unexpected redirect')));
        return;
      }
      const responseHeaders = headersOf(res);
      const meta = { status, statusText: res.statusMessage ?? '', headers: responseHeaders };
      if (NULL_BODY.has(status) || init.method === 'HEAD') {
        const response = new Response(null, meta);
        res.resume();
        done();
        settled = true;
        resolve(response);
        return;
      }
      const stream = decoded(res);
      current = stream;
      if (wantsStream && status >= 200 && status < 300) {
        // Handed over while it arrives; an abort errors the stream with the signal's reason.
        const response = new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, meta);
        stream.once('close', done);
        settled = true;
        resolve(response);
        return;
      }
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.once('error', (error) => fail(signal?.aborted ? signal.reason : fetchFailed(error)));
      stream.once('end', () => {
        if (settled) return;
        let response: Response;
        try {
          response = new Response(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), meta);
        } catch (error) {
          fail(fetchFailed(error));
          return;
        }
        done();
        settled = true;
        resolve(response);
      });
    };
    req.once('error', (error) => fail(signal?.aborted ? signal.reason : fetchFailed(error)));
    signal?.addEventListener('abort', onAbort, { once: true });
    req.end(body ?? undefined);
  });
}
