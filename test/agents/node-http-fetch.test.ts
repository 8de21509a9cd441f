/**
 * nodeHttpFetch (providers/node-http-fetch.ts), the provider's transport: the parts of fetch's
 * contract the provider relies on, against real node:http servers on 127.0.0.1.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { nodeHttpFetch } from '../../src/agents/providers/node-http-fetch.ts';
import { deadline } from '../../src/core/deadline.ts';
import { TimeoutError } from '../../src/core/errors.ts';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;
let server: Server;
let base: string;
let handler: Handler;
let connections = 0;

before(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => handler(req, res, body));
  });
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  server.close();
});

const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
};

describe('nodeHttpFetch', { timeout: 30_000 }, () => {
  it('posts the body with content-length and the headers, and returns status, headers and text', async () => {
    handler = (req, res, body) =>
      json(
        res,
        201,
        { method: req.method, body, auth: req.headers.authorization, len: req.headers['content-length'] },
        {
          'retry-after': '7',
        },
      );
    const res = await nodeHttpFetch(`${base}/v1/x`, {
      method: 'POST',
      headers: { authorization: 'Bearer k', 'content-type': 'application/json' },
      body: '{"é":1}',
    });
    assert.equal(res.status, 201);
    assert.equal(res.ok, true);
    assert.equal(res.headers.get('retry-after'), '7');
    assert.deepEqual(await res.json(), { method: 'POST', body: '{"é":1}', auth: 'Bearer k', len: '8' });
  });

  it('reuses kept-alive sockets for calls made one after another and side by side', async () => {
    handler = (_req, res) => setTimeout(() => json(res, 200, { ok: true }), 20);
    const call = async () => (await nodeHttpFetch(`${base}/`, { method: 'POST', body: '{}' })).json();
    await call();
    const before = connections;
    for (let i = 0; i < 5; i++) await call();
    assert.equal(connections, before, 'sequential calls must reuse the socket');
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        await call();
        await call();
      }),
    );
    assert.ok(
      connections - before <= 16,
      `32 calls by 16 workers opened ${connections - before} connections`,
    );
  });

  it('a reply slower than the idle-socket timeout (4 s) still arrives: only idle sockets are closed', async () => {
    handler = (_req, res) => setTimeout(() => json(res, 200, { slow: true }), 4500);
    const res = await nodeHttpFetch(`${base}/`, { method: 'POST', body: '{}' });
    assert.deepEqual(await res.json(), { slow: true });
  });

  it('decodes gzip bodies', async () => {
    handler = (_req, res) => {
      const body = gzipSync(JSON.stringify({ zipped: true }));
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': body.length });
      res.end(body);
    };
    assert.deepEqual(await (await nodeHttpFetch(`${base}/`)).json(), { zipped: true });
  });

  it("with redirect: 'error' a 3xx is a failure whose cause says redirect, and the Location is not followed", async () => {
    let hits = 0;
    handler = (req, res) => {
      hits++;
      if (req.url === '/moved') {
        res.writeHead(307, { location: '/elsewhere', 'content-length': 0 });
        res.end();
      } else json(res, 200, { followed: true });
    };
    await assert.rejects(
      nodeHttpFetch(`${base}/moved`, { method: 'POST', body: '{}', redirect: 'error' }),
      (err: unknown) => {
        assert.ok(err instanceof TypeError);
        assert.match(String((err as { cause?: { message?: string } }).cause?.message), /redirect/);
        return true;
      },
    );
    assert.equal(hits, 1);
  });

  it('a refused connection rejects with cause.code ECONNREFUSED', async () => {
    const closed = createServer();
    closed.listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, 'close');
    await assert.rejects(nodeHttpFetch(`http://127.0.0.1:${port}/`), (err: unknown) => {
      assert.ok(err instanceof TypeError);
      assert.equal((err as { cause?: { code?: string } }).cause?.code, 'ECONNREFUSED');
      return true;
    });
  });

  it("an abort before the reply or in the middle of the body rejects with the signal's reason", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"partial": ');
      // never ends
    };
    const d = deadline(150, [], 'the test request');
    try {
      await assert.rejects(
        nodeHttpFetch(`${base}/`, { signal: d.signal }),
        (err: unknown) => err instanceof TimeoutError,
      );
    } finally {
      d.clear();
    }
    const c = new AbortController();
    c.abort(new Error('stop now'));
    await assert.rejects(nodeHttpFetch(`${base}/`, { signal: c.signal }), /stop now/);
  });

  it('an event stream is handed over while it arrives; an abort errors it with the reason', async () => {
    let finish: (() => void) | undefined;
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: one\n\n');
      finish = () => res.end('data: [DONE]\n\n');
    };
    const res = await nodeHttpFetch(`${base}/`, { headers: { accept: 'text/event-stream' } });
    const reader = res.body!.getReader();
    const first = await reader.read();
    assert.equal(new TextDecoder().decode(first.value), 'data: one\n\n');
    finish!();
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read())
      rest += new TextDecoder().decode(r.value);
    assert.equal(rest, 'data: [DONE]\n\n');

    handler = (_req, res2) => {
      res2.writeHead(200, { 'content-type': 'text/event-stream' });
      res2.write('data: one\n\n');
    };
    const c = new AbortController();
    const hung = await nodeHttpFetch(`${base}/`, {
      headers: { accept: 'text/event-stream' },
      signal: c.signal,
    });
    const r2 = hung.body!.getReader();
    await r2.read();
    c.abort(new Error('user cancelled'));
    await assert.rejects(r2.read(), /user cancelled/);
  });

  it('204 has a null body; a status fetch cannot represent is a failure, not a crash', async () => {
    handler = (_req, res) => {
      res.writeHead(204);
      res.end();
    };
    const empty = await nodeHttpFetch(`${base}/`);
    assert.equal(empty.status, 204);
    assert.equal(await empty.text(), '');
    handler = (req, res) => {
      req.socket.write('HTTP/1.1 999 Odd\r\ncontent-length: 2\r\n\r\nhi');
      res.detachSocket(req.socket);
    };
    await assert.rejects(nodeHttpFetch(`${base}/`), (err: unknown) => err instanceof TypeError);
  });
});
