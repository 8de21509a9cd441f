import assert from 'node:assert/strict';
import { readFile, stat } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type ControlApi, startControlApi } from '../../src/supervisor/control-api.ts';
import { bearerMatches, isLoopbackHost } from '../../src/supervisor/control-auth.ts';
import { parsePortRange } from '../../src/supervisor/port-range.ts';
import { metadataPaths, readSwitchStatus } from '../../src/supervisor/protocol.ts';
import { startSupervisor } from '../../src/supervisor/supervisor.ts';
import type { SupervisorHandle } from '../../src/supervisor/supervisor-types.ts';
import { workspaceAt } from '../../src/supervisor/workspace.ts';
import { fixtureInfo, freePort, makeWorkspace, portOpen, type TestWorkspace, waitFor } from './helpers.ts';

/** A raw HTTP request (fetch cannot set Host), bounded. */
function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<{ status: number; headers: Record<string, unknown>; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers, timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => {
        text += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

describe('control API helpers', () => {
  it('accepts only loopback Host headers', () => {
    for (const h of ['127.0.0.1:5050', 'localhost:5050', 'LOCALHOST', '[::1]:5050', '127.0.0.1']) {
      assert.equal(isLoopbackHost(h), true, h);
    }
    for (const h of [
      undefined,
      '',
      'evil.example',
      'evil.example:5050',
      '127.0.0.1.nip.io:5050',
      '10.0.0.1:5050',
    ]) {
      assert.equal(isLoopbackHost(h), false, String(h));
    }
  });

  it('matches bearer tokens exactly', () => {
    assert.equal(bearerMatches('Bearer abc123', 'abc123'), true);
    assert.equal(bearerMatches('bearer abc123', 'abc123'), true);
    assert.equal(bearerMatches('Bearer abc1234', 'abc123'), false);
    assert.equal(bearerMatches('Bearer ', 'abc123'), false);
    assert.equal(bearerMatches('Basic abc123', 'abc123'), false);
    assert.equal(bearerMatches(undefined, 'abc123'), false);
  });

  it('parses port ranges and names the setting on bad input', () => {
    assert.deepEqual(parsePortRange('5050-5100', 'X'), { from: 5050, to: 5100 });
    assert.deepEqual(parsePortRange('6000', 'X'), { from: 6000, to: 6000 });
    assert.deepEqual(parsePortRange('0', 'X'), { from: 0, to: 0 });
    for (const bad of ['', 'abc', '5100-5050', '70000', '0-10']) {
      assert.throws(
        () => parsePortRange(bad, 'MARSHAL_CONTROL_PORTS'),
        (err: Error) => {
          assert.match(err.message, /MARSHAL_CONTROL_PORTS/);
          return true;
        },
      );
    }
  });
});

describe('control API on a real supervisor', () => {
  let tw: TestWorkspace;
  let sup: SupervisorHandle;
  let api: ControlApi;
  let serverPort: number;
  let stranger: Server;
  let strangerPort: number;
  const auth = () => ({ authorization: `Bearer ${api.token}` });

  before(async () => {
    tw = await makeWorkspace({
      envs: { a: {}, b: {}, slow: { fixtureEnv: { FIXTURE_STARTUP_DELAY: '1.5' } } },
    });
    serverPort = await freePort();
    const ws = workspaceAt(tw.root);
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
    sup = startSupervisor({
      workspace: ws,
      env: 'a',
      serverArgs: ['--port', String(serverPort)],
      healthIntervalMs: 50,
      healthTimeoutMs: 10_000,
      graceMs: 1000,
      baseEnv: env,
    });
    await waitFor('supervisor running', () => sup.status().state === 'running');
    // A stranger holds the first port of the range: the API must take the next free one.
    stranger = createServer();
    await new Promise<void>((resolve) => stranger.listen(0, '127.0.0.1', resolve));
    strangerPort = (stranger.address() as { port: number }).port;
    const paths = metadataPaths(tw.root);
    api = await startControlApi({
      target: sup,
      portFile: paths.controlPort,
      tokenFile: paths.controlToken,
      logFile: paths.switchLog,
      ports: { from: strangerPort, to: strangerPort + 20 },
      followIntervalMs: 20,
    });
  });

  after(async () => {
    await api?.close();
    await sup?.stop();
    stranger?.close();
    await tw?.cleanup();
  });

  it('skips a port held by a stranger and advertises its port and a 0600 token', async () => {
    assert.ok(api.port > strangerPort && api.port <= strangerPort + 20);
    const paths = metadataPaths(tw.root);
    assert.equal((await readFile(paths.controlPort, 'utf8')).trim(), String(api.port));
    const token = (await readFile(paths.controlToken, 'utf8')).trim();
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.equal(token, api.token);
    assert.equal((await stat(paths.controlToken)).mode & 0o777, 0o600);
  });

  it('serves /health openly, rejects foreign Host headers, unknown routes and wrong methods', async () => {
    const health = await raw(api.port, 'GET', '/health', { host: `127.0.0.1:${api.port}` });
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.text), { status: 'alive', port: api.port, pid: process.pid });
    assert.equal(health.headers['access-control-allow-origin'], undefined);
    const rebind = await raw(api.port, 'GET', '/health', { host: `attacker.example:${api.port}` });
    assert.equal(rebind.status, 403);
    const rebindStatus = await raw(api.port, 'GET', '/status', { host: 'attacker.example', ...auth() });
    assert.equal(rebindStatus.status, 403);
    assert.equal((await raw(api.port, 'GET', '/nope', auth())).status, 404);
    assert.equal((await raw(api.port, 'GET', '/restart', auth())).status, 405);
    assert.equal((await raw(api.port, 'POST', '/health')).status, 405);
  });

  it('requires the bearer token (401 otherwise) from a browser (any Origin) for status, logs and every state change', async () => {
    for (const [method, path] of [
      ['GET', '/status'],
      ['GET', '/marshal/status'],
      ['GET', '/logs'],
      ['POST', '/restart'],
      ['POST', '/switch'],
      ['POST', '/stop'],
    ] as const) {
      const none = await raw(api.port, method, path, { origin: 'http://evil.example' });
      assert.equal(none.status, 401, `${method} ${path} without token`);
      assert.equal(none.headers['www-authenticate'], 'Bearer');
      const wrong = await raw(api.port, method, path, {
        authorization: `Bearer ${'0'.repeat(64)}`,
        origin: 'http://evil.example',
      });
      assert.equal(wrong.status, 401, `${method} ${path} with a wrong token`);
    }
    assert.equal(sup.status().state, 'running', 'no refused request changed anything');
    const ok = await raw(api.port, 'GET', '/marshal/status', auth());
    assert.equal(ok.status, 200);
    const body = JSON.parse(ok.text);
    assert.equal(body.running, true);
    assert.equal(body.environment, 'a');
    assert.equal(body.childPid, (await fixtureInfo(serverPort))?.pid);
  });

  it('refuses bodies over the limit and malformed switch bodies', async () => {
    const big = JSON.stringify({ target: 'x'.repeat(10_000) });
    const res = await raw(
      api.port,
      'POST',
      '/switch',
      { ...auth(), 'content-type': 'application/json' },
      big,
    );
    assert.equal(res.status, 413);
    const bad = await raw(api.port, 'POST', '/switch', auth(), '{"target": 5}');
    assert.equal(bad.status, 400);
    const unknown = await raw(api.port, 'POST', '/switch', auth(), '{"target":"nope"}');
    assert.equal(unknown.status, 400);
    assert.equal(JSON.parse(unknown.text).error, 'E_ENV_NOT_FOUND');
    const traversal = await raw(api.port, 'POST', '/switch', auth(), '{"target":"../a"}');
    assert.equal(traversal.status, 400);
  });

  it('restarts the child on POST /restart', async () => {
    const before = sup.status().childPid;
    const res = await raw(api.port, 'POST', '/restart', auth());
    assert.equal(res.status, 200);
    await waitFor('a new healthy child', async () => {
      const s = sup.status();
      return (
        s.state === 'running' && s.childPid !== before && (await fixtureInfo(serverPort))?.pid === s.childPid
      );
    });
  });

  it('switches on POST /switch, answers 409 to a second switch meanwhile, and streams the log', async () => {
    const ac = new AbortController();
    const lines: Array<Record<string, unknown>> = [];
    const follow = (async () => {
      const res = await fetch(`http://127.0.0.1:${api.port}/logs?follow=1&n=2`, {
        headers: auth(),
        signal: ac.signal,
      });
      assert.equal(res.headers.get('content-type'), 'application/x-ndjson; charset=utf-8');
      const reader = res.body!.getReader();
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += Buffer.from(value).toString();
          let nl = buf.indexOf('\n');
          while (nl >= 0) {
            lines.push(JSON.parse(buf.slice(0, nl)));
            buf = buf.slice(nl + 1);
            nl = buf.indexOf('\n');
          }
        }
      } catch (err) {
        if (!ac.signal.aborted) throw err;
      }
    })();
    const first = await raw(api.port, 'POST', '/switch', auth(), '{"target":"slow"}');
    assert.equal(first.status, 202);
    const second = await raw(api.port, 'POST', '/switch', auth(), '{"target":"b"}');
    assert.equal(second.status, 409);
    assert.equal(JSON.parse(second.text).error, 'E_SWITCH_IN_PROGRESS');
    await waitFor(
      'the switch to complete',
      async () => {
        const st = await readSwitchStatus(workspaceAt(tw.root));
        return st?.state === 'complete' && st.target_env === 'slow';
      },
      { timeoutMs: 20_000 },
    );
    assert.equal((await fixtureInfo(serverPort))?.env, 'slow');
    await waitFor('the complete status in the followed log', () =>
      lines.some((l) => (l.status as { state?: string } | undefined)?.state === 'complete'),
    );
    ac.abort();
    await follow;
    assert.ok(lines.length >= 3, 'the tail and the live lines arrived');
    const tail = await raw(api.port, 'GET', '/logs?n=5', auth());
    assert.equal(JSON.parse(tail.text).logs.length, 5);
    assert.equal((await raw(api.port, 'GET', '/logs?n=-1', auth())).status, 400);
  });

  it('stops the supervisor on POST /stop and then closes, freeing its port and files', async () => {
    const res = await raw(api.port, 'POST', '/stop', auth());
    assert.equal(res.status, 200);
    const result = await sup.done;
    assert.equal(result.exitCode, 0);
    await api.close();
    assert.equal(await portOpen(api.port), false);
    assert.equal(await portOpen(serverPort), false);
    const paths = metadataPaths(tw.root);
    await assert.rejects(readFile(paths.controlPort, 'utf8'), { code: 'ENOENT' });
    await assert.rejects(readFile(paths.controlToken, 'utf8'), { code: 'ENOENT' });
  });
});
