/**
 * Deadlines under real garbage collection (issue 8 §1). On Node 20 a timeout held only through
 * `AbortSignal.any` can be collected and then never fires (nodejs/node#57736); these waits ran
 * forever under GC pressure before they used core `deadline()`. The process churns allocations and
 * calls `gc()` all along; each wait must end at its own bound. The watchdog only turns a hang into
 * a failure (it is 20 s against bounds of a fraction of a second).
 */
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { afterEach, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { writePidFile } from '../../src/core/pid-file.ts';
import { controlRequest } from '../../src/supervisor/control-client.ts';
import { metadataPaths } from '../../src/supervisor/index.ts';
import { runMain } from '../helpers/run-main.ts';
import { freePort, harness, makeWorkspace } from './helpers.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let cleanups: Array<() => Promise<unknown> | unknown> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** Allocates garbage and collects it every few ms until the test's cleanup. */
function churn(): void {
  const timer = setInterval(() => {
    const garbage = Array.from({ length: 5000 }, (_, i) => ({ i, s: `x${i}` }));
    if (garbage.length > 0) gc();
  }, 5);
  cleanups.push(() => clearInterval(timer));
}

/** `work`'s result, or a failure naming `what` when it never ends (a lost deadline). */
async function ends<T>(what: string, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const watchdog = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} never ended: its deadline was lost`)), 20_000);
  });
  try {
    return await Promise.race([work, watchdog]);
  } finally {
    clearTimeout(timer);
  }
}

/** A workspace whose PID file names this process: a "supervisor" that is alive and never acts. */
async function silentSupervisor() {
  const ws = await makeWorkspace({ envs: { a: {}, b: {} } });
  cleanups.push(() => ws.cleanup());
  await writePidFile(metadataPaths(ws.root).orchestratorPid, {
    kind: 'marshal-supervisor',
    workspace: ws.root,
    environment: 'a',
  });
  return ws;
}

describe('deadlines under GC pressure', () => {
  test('a control API request to an API that never answers ends at its bound', async () => {
    const sockets = new Set<Socket>();
    const server = createServer((s) => sockets.add(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    );
    const port = (server.address() as { port: number }).port;
    churn();
    const err = await ends(
      'control request',
      controlRequest({ port, token: 'x' }, 'GET', '/status', {
        timeoutMs: 300,
        signal: new AbortController().signal,
      }).then(
        () => assert.fail('the hung API answered'),
        (e: unknown) => e as { code?: string; details?: { timedOut?: boolean } },
      ),
    );
    assert.equal(err.code, 'E_CONTROL_UNREACHABLE');
    assert.equal(err.details?.timedOut, true);
  });

  test('switch --wait --timeout ends at its timeout (exit 4) when the switch never ends', async () => {
    const ws = await silentSupervisor();
    churn();
    const r = await ends(
      'switch --wait',
      runMain(['switch', 'b', `--workspace=${ws.root}`, '--wait', '--timeout', '0.3']),
    );
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, /did not end within 0\.3 s/);
  });

  test('stop --timeout ends at its timeout when the supervisor never exits', async () => {
    const ws = await silentSupervisor();
    churn();
    const r = await ends('stop', runMain(['stop', `--workspace=${ws.root}`, '--timeout', '0.3']));
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /did not exit within 0\.3 s/);
  });

  test('a readiness wait against a child that never becomes ready ends at its timeout', async () => {
    const ws = await makeWorkspace({ envs: { a: { broken: 'no-listen' } } });
    cleanups.push(() => ws.cleanup());
    const h = harness(ws.root, 'a', await freePort(), { healthTimeoutMs: 400, maxRestarts: 0 });
    cleanups.push(() => h.sup.stop());
    churn();
    const result = await ends('readiness', h.sup.done);
    assert.equal(result.state, 'crash_loop');
    const readiness = h.eventsOf('readiness');
    assert.equal(readiness.length, 1);
    assert.match(readiness[0]?.reason ?? '', /not ready after 400 ms/);
  });
});
