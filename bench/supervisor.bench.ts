/**
 * Supervisor overhead: how much longer a restart and a switch take than the server itself needs to
 * start and answer, at marshal's default readiness settings and, side by side in the same run,
 * with the original ComfyGit orchestrator's policy (3 consecutive probes 2 s apart).
 *
 *   server start-to-ready  spawn of the fixture server (python ComfyUI/main.py) until its first
 *                          200 on /system_stats, polled every 5 ms: the server's own cost
 *   restart latency        restart() until the new child is ready and the state is running
 *   switch latency         switchTo(other) until `.switch_status.json` says complete
 *   overhead               latency - server start-to-ready (medians)
 *
 * Targets: restart overhead < 0.3 s, switch overhead < 0.5 s at default settings. A third row shows
 * marshal with 250 ms probes (`--health-interval 0.25`), for comparison.
 *
 * Run: npm run bench -- supervisor   (or node --import tsx bench/supervisor.bench.ts [--runs N])
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { readSwitchStatus } from '../src/supervisor/protocol.ts';
import { DEFAULT_HEALTH_INTERVAL_MS, DEFAULT_READY_CONSECUTIVE } from '../src/supervisor/readiness.ts';
import { startSupervisor } from '../src/supervisor/supervisor.ts';
import type { SupervisorHandle, SupervisorOptions } from '../src/supervisor/supervisor-types.ts';
import { workspaceAt } from '../src/supervisor/workspace.ts';
import { freePort, makeWorkspace, waitFor } from '../test/supervisor/helpers.ts';

const runsArg = process.argv.indexOf('--runs');
const RUNS = Number(runsArg >= 0 ? process.argv[runsArg + 1] : (process.env.MARSHAL_BENCH_RUNS ?? 7));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const fmt = (ms: number) => `${(ms / 1000).toFixed(3)} s`;

async function ready(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/system_stats`, { signal: AbortSignal.timeout(1000) });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/** The fixture server's own spawn-to-first-200 time, run directly (no supervisor). */
async function serverStartToReady(envDir: string): Promise<number> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(
    join(envDir, '.venv/bin/python'),
    [join(envDir, 'ComfyUI/main.py'), '--port', String(port)],
    {
      cwd: join(envDir, 'ComfyUI'),
      stdio: 'ignore',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    },
  );
  try {
    const deadline = Date.now() + 20_000;
    while (!(await ready(port))) {
      if (Date.now() > deadline) throw new Error('fixture server did not come up');
      await new Promise((r) => setTimeout(r, 5));
    }
    return performance.now() - t0;
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
  }
}

interface Figures {
  restart: number[];
  switch: number[];
}

async function measure(label: string, extra: Partial<SupervisorOptions>): Promise<Figures> {
  const tw = await makeWorkspace({ envs: { a: {}, b: {} } });
  const port = await freePort();
  const sup: SupervisorHandle = startSupervisor({
    workspace: workspaceAt(tw.root),
    env: 'a',
    serverArgs: ['--port', String(port)],
    baseEnv: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    ...extra,
  });
  const figures: Figures = { restart: [], switch: [] };
  try {
    await waitFor('first start', () => sup.status().state === 'running', {
      timeoutMs: 60_000,
      intervalMs: 5,
    });
    let env = 'a';
    for (let i = 0; i < RUNS; i++) {
      const before = sup.status().childPid;
      const restarted = new Promise<void>((resolve) => {
        const off = sup.onChange((s) => {
          if (s.state === 'running' && s.childPid !== before && s.childPid !== null) {
            off();
            resolve();
          }
        });
      });
      const t0 = performance.now();
      sup.restart();
      await restarted;
      figures.restart.push(performance.now() - t0);

      const target = env === 'a' ? 'b' : 'a';
      const complete = new Promise<void>((resolve) => {
        const off = sup.onChange((s) => {
          if (
            s.switchStatus?.state === 'complete' &&
            s.switchStatus.target_env === target &&
            s.state === 'running'
          ) {
            off();
            resolve();
          }
        });
      });
      const t1 = performance.now();
      await sup.switchTo(target);
      await complete;
      figures.switch.push(performance.now() - t1);
      const st = await readSwitchStatus(workspaceAt(tw.root));
      if (st?.state !== 'complete') throw new Error(`${label}: switch ended ${st?.state}`);
      env = target;
    }
  } finally {
    await sup.stop();
    await tw.cleanup();
  }
  return figures;
}

const tw = await makeWorkspace({ envs: { a: {} } });
const own: number[] = [];
for (let i = 0; i < RUNS; i++) own.push(await serverStartToReady(tw.envDir('a')));
await tw.cleanup();
const serverMs = median(own);

const marshal = await measure('marshal defaults', {});
const slower = await measure('marshal, 250 ms probes', { healthIntervalMs: 250 });
const original = await measure("original's policy", { healthIntervalMs: 2000, readyConsecutive: 3 });

const row = (name: string, f: Figures) => {
  const r = median(f.restart);
  const s = median(f.switch);
  console.log(
    `${name.padEnd(34)} restart ${fmt(r)} (overhead ${fmt(r - serverMs)})   switch ${fmt(s)} (overhead ${fmt(s - serverMs)})`,
  );
  return { restart: r - serverMs, switch: s - serverMs };
};

console.log(`runs: ${RUNS} per figure (medians); Node ${process.version}`);
console.log(`${'fixture server start-to-ready'.padEnd(34)} ${fmt(serverMs)}`);
const m = row(
  `marshal defaults (${DEFAULT_HEALTH_INTERVAL_MS} ms x ${DEFAULT_READY_CONSECUTIVE} probes)`,
  marshal,
);
row('marshal --health-interval 0.25', slower);
const o = row("original's policy (2 s x 3 probes)", original);
console.log(
  `overhead ratio original / marshal:  restart ${(o.restart / m.restart).toFixed(1)}x   switch ${(o.switch / m.switch).toFixed(1)}x`,
);
console.log(
  `targets: restart overhead < 0.300 s: ${m.restart < 300 ? 'met' : 'NOT met'} (${fmt(m.restart)});` +
    ` switch overhead < 0.500 s: ${m.switch < 500 ? 'met' : 'NOT met'} (${fmt(m.switch)})`,
);
