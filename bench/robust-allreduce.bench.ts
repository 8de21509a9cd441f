/**
 * Cost of robust aggregation inside training: the step time of python/marshal_robust.py's
 * robust_all_reduce, per rule, against the plain gloo all-reduce, for python/marshal_benchmark.py's
 * model (16,897 parameters, batch 64) on W ranks of this machine (gloo on loopback, Debian's
 * /usr/bin/python3 with torch). Every mode runs in the same processes, interleaved round by round
 * (bench/robust_allreduce.py), so the ratios compare like with like; the median round is kept.
 *
 * Run: npm run bench -- robust-allreduce
 *   or node --import tsx bench/robust-allreduce.bench.ts [--world 5] [--f 1] [--rounds 5] [--steps 20] [--rules krum,median]
 * Environment equivalents: MARSHAL_BENCH_WORLD, MARSHAL_BYZANTINE_F, MARSHAL_BENCH_ROUNDS,
 * MARSHAL_BENCH_STEPS, MARSHAL_BENCH_RULES.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { deadline } from '../src/core/deadline.ts';

const PYTHON = '/usr/bin/python3';
const SCRIPT = fileURLToPath(new URL('./robust_allreduce.py', import.meta.url));

function arg(name: string, env: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return (i >= 0 ? process.argv[i + 1] : process.env[env]) ?? fallback;
}

const world = Number(arg('world', 'MARSHAL_BENCH_WORLD', '5'));
const f = Number(arg('f', 'MARSHAL_BYZANTINE_F', '1'));
const rounds = arg('rounds', 'MARSHAL_BENCH_ROUNDS', '5');
const steps = arg('steps', 'MARSHAL_BENCH_STEPS', '20');
const rules = arg('rules', 'MARSHAL_BENCH_RULES', '');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise((r) => server.close(r));
  return port;
}

interface Output {
  params: number;
  world: number;
  f: number;
  steps: Record<string, number[]>;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2;
};

async function run(): Promise<Output> {
  const port = await freePort();
  const d = deadline(900_000, [], 'robust all-reduce bench');
  try {
    let out = '';
    const exits = Array.from({ length: world }, (_, rank) => {
      const child = spawn(PYTHON, [SCRIPT], {
        signal: d.signal,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: {
          ...process.env,
          RANK: String(rank),
          WORLD_SIZE: String(world),
          MASTER_ADDR: '127.0.0.1',
          MASTER_PORT: String(port),
          GLOO_SOCKET_IFNAME: 'lo',
          MARSHAL_BYZANTINE_F: String(f),
          MARSHAL_BENCH_ROUNDS: rounds,
          MARSHAL_BENCH_STEPS: steps,
          ...(rules ? { MARSHAL_BENCH_RULES: rules } : {}),
        },
      });
      child.stdout.on('data', (b: Buffer) => {
        if (rank === 0) out += b.toString();
      });
      return new Promise<number | null>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', resolve);
      });
    });
    const codes = await Promise.all(exits);
    if (codes.some((c) => c !== 0)) throw new Error(`ranks exited with ${codes.join(', ')}`);
    return JSON.parse(out.trim().split('\n').pop()!) as Output;
  } finally {
    d.clear();
  }
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm)?.length ?? 0;
console.log(
  `robust all-reduce vs plain all-reduce: ${world} ranks, f = ${f}, ${rounds} rounds x ${steps} steps per mode`,
);
console.log(`load before: ${load()} (${cores} cores)`);
const result = await run();
const plain = median(result.steps.plain!);
console.log(`model: ${result.params} parameters (python/marshal_benchmark.py's MLP, batch 64)`);
console.log(['mode'.padEnd(18), 'ms/step'.padStart(9), 'x plain'.padStart(9)].join(' '));
for (const [mode, times] of Object.entries(result.steps)) {
  const t = median(times);
  console.log(
    [mode.padEnd(18), (t * 1000).toFixed(2).padStart(9), (t / plain).toFixed(2).padStart(9)].join(' '),
  );
}
console.log(`load after: ${load()}`);
