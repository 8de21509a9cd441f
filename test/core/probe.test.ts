import assert from 'node:assert/strict';
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { deferred } from '../../src/core/async.ts';
import { AbortedError, MarshalError } from '../../src/core/errors.ts';
import { type ProbeResult, probeHttp, probeTcp, waitHealthy } from '../../src/core/index.ts';

const servers: { close(): unknown }[] = [];
const sockets: Socket[] = [];
after(() => {
  for (const s of sockets) s.destroy();
  for (const s of servers) s.close();
});

async function listen(server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  servers.push(server);
  server.on('connection', (s: Socket) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** An HTTP server answering with the next status of `script` (the last one repeats). */
async function scriptedServer(script: number[]): Promise<string> {
  let i = 0;
  const server = createHttpServer((_req, res) => {
    const status = script[Math.min(i++, script.length - 1)] ?? 200;
    res.writeHead(status).end(`status ${status}`);
  });
  return `http://127.0.0.1:${await listen(server)}/health`;
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

describe('probeTcp', () => {
  it('ok against a listening port', async () => {
    const port = await listen(createTcpServer());
    const r = await probeTcp({ port, timeoutMs: 5000 });
    assert.equal(r.ok, true);
  });

  it('refused on a closed port', async () => {
    const r = await probeTcp({ port: await closedPort(), timeoutMs: 5000 });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'refused');
  });

  it('rejects a bad port naming the field', async () => {
    await assert.rejects(
      probeTcp({ port: 70_000 }),
      (e: unknown) => e instanceof MarshalError && /port/.test(e.message),
    );
  });
});

describe('probeHttp', () => {
  it('ok with the status on 200', async () => {
    const r = await probeHttp({ url: await scriptedServer([200]), timeoutMs: 5000 });
    assert.deepEqual({ ok: r.ok, status: r.status }, { ok: true, status: 200 });
  });

  it('http_status on 500', async () => {
    const r = await probeHttp({ url: await scriptedServer([500]), timeoutMs: 5000 });
    assert.equal(r.ok, false);
    assert.deepEqual(!r.ok && [r.reason, r.status], ['http_status', 500]);
  });

  it('refused on a closed port', async () => {
    const r = await probeHttp({ url: `http://127.0.0.1:${await closedPort()}/`, timeoutMs: 5000 });
    assert.equal(!r.ok && r.reason, 'refused');
  });

  it('timeout against a server that accepts but never answers', async () => {
    const port = await listen(createTcpServer(() => {}));
    const r = await probeHttp({ url: `http://127.0.0.1:${port}/`, timeoutMs: 100 });
    assert.equal(!r.ok && r.reason, 'timeout');
  });

  it('stops reading an endless body at the cap', async () => {
    const server = createHttpServer((_req, res) => {
      res.writeHead(200);
      const chunk = Buffer.alloc(16 * 1024, 97);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    const port = await listen(server);
    const r = await probeHttp({
      url: `http://127.0.0.1:${port}/`,
      timeoutMs: 10_000,
      maxBodyBytes: 32 * 1024,
    });
    assert.equal(r.ok, true);
  });

  it('rejects with AbortedError when the signal aborts', async () => {
    const port = await listen(createTcpServer(() => {}));
    const ac = new AbortController();
    const p = probeHttp({ url: `http://127.0.0.1:${port}/`, timeoutMs: 10_000, signal: ac.signal });
    ac.abort();
    await assert.rejects(p, AbortedError);
  });

  it('rejects a non-http URL naming the field', async () => {
    await assert.rejects(
      probeHttp({ url: 'file:///etc/passwd' }),
      (e: unknown) => e instanceof MarshalError && /url/.test(e.message),
    );
  });
});

describe('waitHealthy', () => {
  const failed: ProbeResult = { ok: false, reason: 'refused', message: 'refused', latencyMs: 0 };

  it('needs K consecutive successes; a failure resets the count', async () => {
    const url = await scriptedServer([200, 200, 500, 200, 200, 200]);
    const seen: (number | undefined)[] = [];
    const r = await waitHealthy((signal) => probeHttp({ url, timeoutMs: 5000, signal }), {
      consecutive: 3,
      intervalMs: 1,
      timeoutMs: 20_000,
      onProbe: (p) => seen.push(p.status),
    });
    assert.equal(r.ok, true);
    assert.equal(r.attempts, 6);
    assert.deepEqual(seen, [200, 200, 500, 200, 200, 200]);
  });

  it('times out when the probe keeps failing, reporting the last result', async () => {
    const port = await closedPort();
    const r = await waitHealthy((signal) => probeTcp({ port, timeoutMs: 5000, signal }), {
      intervalMs: 5,
      timeoutMs: 100,
    });
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'timeout');
    assert.equal(!r.ok && r.last?.ok === false && r.last.reason, 'refused');
  });

  it('fails fast with exited when the process exits during the sleep between probes', {
    timeout: 20_000,
  }, async () => {
    const exit = deferred<void>();
    let calls = 0;
    const r = await waitHealthy(
      async () => {
        calls++;
        setImmediate(() => exit.resolve());
        return failed;
      },
      { intervalMs: 60_000, timeoutMs: 60_000, exited: exit.promise },
    );
    assert.deepEqual(r, { ok: false, reason: 'exited', attempts: 1, last: failed });
    assert.equal(calls, 1);
  });

  it('fails fast with exited during a probe that ignores its signal', { timeout: 20_000 }, async () => {
    const exit = deferred<void>();
    const r = await waitHealthy(
      () => {
        setImmediate(() => exit.reject(new Error('crashed')));
        return new Promise<ProbeResult>(() => {});
      },
      { intervalMs: 1, timeoutMs: 60_000, exited: exit.promise },
    );
    assert.equal(!r.ok && r.reason, 'exited');
  });

  it('returns aborted when the caller aborts', { timeout: 20_000 }, async () => {
    const ac = new AbortController();
    const r = await waitHealthy(
      async () => {
        ac.abort();
        return failed;
      },
      { intervalMs: 60_000, timeoutMs: 60_000, signal: ac.signal },
    );
    assert.equal(!r.ok && r.reason, 'aborted');
  });

  it('counts a throwing probe as an error result', async () => {
    const results: ProbeResult[] = [];
    let n = 0;
    const r = await waitHealthy(
      async () => {
        if (n++ === 0) throw new Error('boom');
        return { ok: true, latencyMs: 1 };
      },
      { consecutive: 1, intervalMs: 1, timeoutMs: 20_000, onProbe: (p) => results.push(p) },
    );
    assert.equal(r.ok, true);
    assert.deepEqual(
      results.map((p) => (p.ok ? 'ok' : `${p.reason}:${p.message}`)),
      ['error:boom', 'ok'],
    );
  });
});
