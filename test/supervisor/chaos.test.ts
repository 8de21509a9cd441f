/**
 * Chaos run: a real supervisor with its control API, a seeded stream of faults (MARSHAL_CHAOS_SEED,
 * printed; MARSHAL_CHAOS_FAULTS, default 100), and invariants checked after each fault once the
 * supervisor has settled: at most one child process group alive, every switch in a terminal
 * state, no lock older than its TTL. At the end: no stray process, free ports.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { after, describe, it } from 'node:test';
import { readLock } from '../../src/core/lock-file.ts';
import { type ControlApi, startControlApi } from '../../src/supervisor/control-api.ts';
import { metadataPaths, readSwitchStatus, TERMINAL_SWITCH_STATES } from '../../src/supervisor/protocol.ts';
import { startSupervisor } from '../../src/supervisor/supervisor.ts';
import type { SupervisorHandle } from '../../src/supervisor/supervisor-types.ts';
import { workspaceAt } from '../../src/supervisor/workspace.ts';
import { stopLeftovers } from './cli-harness.ts';
import {
  deadPid,
  fixtureInfo,
  freePort,
  makeWorkspace,
  portOpen,
  type TestWorkspace,
  waitFor,
} from './helpers.ts';

/** Pinned, so every run sees the same faults; MARSHAL_CHAOS_SEED explores others (printed at start). */
const SEED = Number(process.env.MARSHAL_CHAOS_SEED ?? 20_261_202);
const FAULTS = Number(process.env.MARSHAL_CHAOS_FAULTS ?? 100);
const LOCK_TTL_MS = 3000;
const ENVS = ['a', 'b', 'kids', 'stubborn', 'broken'] as const;

/** mulberry32: small, seedable, good enough to pick faults. */
function prng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

/** A /proc file's text, or '' when the process is gone. */
function procText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Non-zombie processes whose command line mentions `root`, with their process group. The /proc
 * reads are synchronous on purpose: the sampler scans every process ten times a second, and
 * fs/promises costs four thread-pool round trips per tiny file (measured: half of this test's
 * CPU time), while a synchronous read of a /proc file takes microseconds.
 */
async function processesUnder(root: string): Promise<Array<{ pid: number; pgid: number }>> {
  const out: Array<{ pid: number; pgid: number }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const cmd = procText(`/proc/${name}/cmdline`);
    if (!cmd.includes(root)) continue;
    const stat = procText(`/proc/${name}/stat`);
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (f[0] === 'Z' || f[0] === undefined) continue;
    out.push({ pid: Number(name), pgid: Number(f[2]) });
  }
  return out;
}

const kill = (pid: number, sig: NodeJS.Signals): void => {
  try {
    process.kill(pid, sig);
  } catch {
    // gone already
  }
};

let tw: TestWorkspace | undefined;
after(async () => {
  if (tw) {
    await stopLeftovers(tw.root);
    await tw.cleanup();
  }
});

describe(`chaos (seed ${SEED}, ${FAULTS} faults)`, () => {
  it('keeps its invariants under random faults and leaves nothing behind', { timeout: 300_000 }, async () => {
    console.log(`# chaos seed ${SEED} (rerun with MARSHAL_CHAOS_SEED=${SEED})`);
    const rnd = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    tw = await makeWorkspace({
      envs: {
        a: {},
        b: {},
        kids: { fixtureEnv: { FIXTURE_GRANDCHILD: '1' } },
        stubborn: { fixtureEnv: { FIXTURE_IGNORE_SIGTERM: '1' } },
        broken: { broken: 'exit-1' },
      },
    });
    const root = tw.root;
    const paths = metadataPaths(root);
    const port = await freePort();
    const sup: SupervisorHandle = startSupervisor({
      workspace: workspaceAt(root),
      env: 'a',
      serverArgs: ['--port', String(port)],
      healthIntervalMs: 20,
      healthTimeoutMs: 8000,
      graceMs: 300,
      maxRestarts: 10_000,
      backoffMs: 20,
      backoffCapMs: 200,
      requestGraceMs: 200,
      pollIntervalMs: 25,
      lockTtlMs: LOCK_TTL_MS,
      portFreeTimeoutMs: 5000,
      statusRetentionMs: 60_000,
      baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    await waitFor('first start', () => sup.status().state === 'running');
    const api: ControlApi = await startControlApi({
      target: sup,
      portFile: paths.controlPort,
      tokenFile: paths.controlToken,
      logFile: paths.switchLog,
      ports: { from: 0, to: 0 },
    });
    const post = (path: string, body?: unknown) =>
      fetch(`http://127.0.0.1:${api.port}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${api.token}`, 'content-type': 'application/json' },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(10_000),
      }).then(async (r) => {
        await r.text();
        return r.status;
      });
    const fixture = (path: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', signal: AbortSignal.timeout(2000) })
        .then((r) => r.text())
        .catch(() => undefined);
    const childPid = () => sup.status().childPid;

    const faults: Record<string, () => Promise<void>> = {
      async sigkill_child() {
        const pid = childPid();
        if (pid) kill(pid, 'SIGKILL');
      },
      async sigkill_group() {
        const pid = childPid();
        if (pid) kill(-pid, 'SIGKILL');
      },
      async sigkill_grandchildren() {
        const pid = childPid();
        for (const p of await processesUnder(root))
          if (p.pgid === pid && p.pid !== pid) kill(p.pid, 'SIGKILL');
      },
      async exit_code() {
        await fixture(`/exit?code=${pick([1, 2, 3, 42, 43, 77, 137, 255])}`);
      },
      async switch_by_exit43() {
        await fixture(`/switch?target=${pick(ENVS)}`);
      },
      async switch_api() {
        await post('/switch', { target: pick(ENVS) });
      },
      async concurrent_switches() {
        const statuses = await Promise.all([
          post('/switch', { target: pick(ENVS) }),
          post('/switch', { target: pick(ENVS) }),
          post('/switch', { target: pick(ENVS) }),
        ]);
        assert.ok(
          statuses.filter((s) => s === 202).length <= 1,
          `two switches accepted at once: ${statuses}`,
        );
      },
      async request_file() {
        const req = { target_env: pick(ENVS), source_env: null, timestamp: Date.now() / 1000 };
        await writeFile(paths.switchRequest, JSON.stringify(req));
      },
      async corrupt_request() {
        const text = pick([
          '{"target_env": "b", "timest',
          '',
          'not json at all',
          '{"target_env": "../../etc", "timestamp": 1}',
        ]);
        await writeFile(paths.switchRequest, text);
      },
      async corrupt_cmd() {
        await writeFile(
          paths.cmd,
          pick(['{"command": "rest', '{"command": "explode", "timestamp": 1}', '\u0000\u0001']),
        );
      },
      async corrupt_status() {
        await writeFile(paths.switchStatus, pick(['{"state": "valid', '[]', '']));
      },
      async cmd_restart() {
        await writeFile(paths.cmd, JSON.stringify({ command: 'restart', timestamp: Date.now() / 1000 }));
      },
      async api_restart() {
        await post('/restart');
      },
      async stale_lock_then_switch() {
        const old = new Date(Date.now() - 10 * LOCK_TTL_MS).toISOString();
        const owner = {
          pid: await deadPid(),
          processStartTime: 1,
          host: hostname(),
          purpose: 'chaos',
          createdAt: old,
          heartbeatAt: old,
        };
        await writeFile(paths.switchLock, JSON.stringify(owner)).catch(() => undefined);
        const status = await post('/switch', { target: pick(['a', 'b']) });
        assert.ok(status === 202 || status === 409, `switch after a stale lock: HTTP ${status}`);
      },
      async stranger_on_port() {
        // The child dies and a stranger holds its port for a moment: the next start must wait it out.
        const { createServer } = await import('node:net');
        const sockets = new Set<import('node:net').Socket>();
        const stranger = createServer((sock) => {
          sockets.add(sock);
          sock.on('error', () => undefined);
        });
        const pid = childPid();
        if (pid) kill(-pid, 'SIGKILL');
        await new Promise((r) => setTimeout(r, 30));
        const bound = await new Promise<boolean>((resolve) => {
          stranger.once('error', () => resolve(false));
          stranger.listen(port, '127.0.0.1', () => resolve(true));
        });
        await new Promise((r) => setTimeout(r, 100 + rnd() * 400));
        if (bound) {
          const closed = new Promise((r) => stranger.close(r));
          for (const sock of sockets) sock.destroy();
          await closed;
        }
      },
    };
    const names = Object.keys(faults);
    const history: string[] = [];

    const settle = async (label: string) => {
      // Settled: running, the server answering as the current child, nothing pending, and the same
      // child still there a moment later (a request just taken may not have changed the state yet).
      const quiet = async (): Promise<number | null> => {
        const s = sup.status();
        if (s.state !== 'running' || s.childPid === null) return null;
        const st = await readSwitchStatus(workspaceAt(root));
        if (st && !TERMINAL_SWITCH_STATES.has(st.state)) return null;
        const pending = await Promise.all(
          [paths.switchRequest, paths.cmd].map((p) =>
            readFile(p).then(
              () => true,
              () => false,
            ),
          ),
        );
        if (pending.some(Boolean)) return null;
        return (await fixtureInfo(port))?.pid === s.childPid ? s.childPid : null;
      };
      await waitFor(
        `settled after ${label} (seed ${SEED}; last faults: ${history.slice(-5).join(', ')})`,
        async () => {
          const first = await quiet();
          if (first === null) return false;
          await new Promise((r) => setTimeout(r, 150));
          return (await quiet()) === first;
        },
        { timeoutMs: 30_000, intervalMs: 25 },
      );
      // Invariants.
      const groups = new Set((await processesUnder(root)).map((p) => p.pgid));
      assert.ok(
        groups.size <= 1,
        `after ${label}: ${groups.size} child groups alive (${[...groups]}), seed ${SEED}`,
      );
      const lock = await readLock(paths.switchLock, { ttlMs: LOCK_TTL_MS });
      assert.notEqual(
        lock.status,
        'stale',
        `after ${label}: a lock older than its TTL or of a dead owner, seed ${SEED}`,
      );
      const st = await readSwitchStatus(workspaceAt(root));
      assert.ok(
        st === null || TERMINAL_SWITCH_STATES.has(st.state),
        `after ${label}: switch left in ${st?.state}`,
      );
    };

    // Sampled all along, not only once settled: two server generations must never overlap.
    let maxGroups = 0;
    let overlap = '';
    const sampling = new AbortController();
    const sampler = (async () => {
      while (!sampling.signal.aborted) {
        const groups = new Set((await processesUnder(root)).map((p) => p.pgid));
        if (groups.size > maxGroups) {
          maxGroups = groups.size;
          overlap = `${[...groups]} during ${history.at(-1) ?? 'start'}`;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();

    const counts: Record<string, number> = {};
    for (let i = 0; i < FAULTS; i++) {
      const name = pick(names);
      history.push(name);
      counts[name] = (counts[name] ?? 0) + 1;
      const t0 = Date.now();
      if (process.env.MARSHAL_CHAOS_VERBOSE) console.log(`# fault #${i + 1} ${name}`);
      await Promise.race([
        faults[name]!(),
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`fault #${i + 1} ${name} hung (seed ${SEED})`)), 20_000).unref(),
        ),
      ]);
      await settle(`fault #${i + 1} ${name}`);
      if (process.env.MARSHAL_CHAOS_VERBOSE)
        console.log(`# fault #${i + 1} ${name}: settled in ${Date.now() - t0} ms`);
    }
    sampling.abort();
    await sampler;
    console.log(`# chaos faults: ${JSON.stringify(counts)}`);
    assert.ok(maxGroups <= 1, `two child groups alive at once (${overlap}), seed ${SEED}`);
    assert.equal(sup.status().state, 'running');

    await sup.stop();
    assert.equal((await sup.done).exitCode, 0);
    await api.close();
    await waitFor('no stray process', async () => (await processesUnder(root)).length === 0, {
      timeoutMs: 5000,
    });
    assert.equal(await portOpen(port), false);
    assert.equal(await portOpen(api.port), false);
  });
});
