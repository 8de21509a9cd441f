/**
 * Start-up cost of the real binary (bin/marshal.js running dist/, plain node, no TypeScript
 * loader) against Node's own floor, interleaved in one run so that machine load hits every case
 * alike:
 *
 *   node -e 0                  the baseline: start Node and exit
 *   marshal --version          answered by bin/marshal.js itself from package.json
 *   marshal --help             the CLI frame: dist/cli/main.js and what it imports eagerly
 *   marshal heavy --help       the frame plus one command module (the agents' settings)
 *
 * Each figure is wall time from spawn to exit (median and p90 of --runs, default 20). Target:
 * `--version` within 1.5x of `node -e 0` (median). Peak RSS (`/usr/bin/time -f %M`) is printed
 * when GNU time is installed.
 *
 * Run: npm run bench -- startup   (or node --import tsx bench/startup.bench.ts [--runs N])
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const bin = join(root, 'bin', 'marshal.js');
const runsArg = process.argv.indexOf('--runs');
const RUNS = Number(runsArg >= 0 ? process.argv[runsArg + 1] : (process.env.MARSHAL_BENCH_RUNS ?? 20));
const TARGET = 1.5;
const GNU_TIME = '/usr/bin/time';

const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME };
const cases: Array<{ label: string; args: string[] }> = [
  { label: 'node -e 0', args: ['-e', '0'] },
  { label: 'marshal --version', args: [bin, '--version'] },
  { label: 'marshal --help', args: [bin, '--help'] },
  { label: 'marshal heavy --help', args: [bin, 'heavy', '--help'] },
];

const sorted = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);
const median = (xs: number[]): number => {
  const s = sorted(xs);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const p90 = (xs: number[]): number => sorted(xs)[Math.ceil(0.9 * xs.length) - 1]!;
const ms = (x: number): string => `${x.toFixed(1).padStart(6)} ms`;

function once(args: string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const elapsed = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return elapsed;
}

/** Peak resident set size in MB, by GNU time. */
function peakRssMb(args: string[]): number {
  const r = spawnSync(GNU_TIME, ['-f', '%M', process.execPath, ...args], {
    cwd: root,
    env,
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`time node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return Number(r.stderr.trim().split('\n').at(-1)) / 1024;
}

// The thing measured is the compiled binary: bring dist/ up to date first (a no-op when current).
const build = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs'), '--allow-type-errors'], {
  cwd: root,
  stdio: 'inherit',
});
if (build.status !== 0) throw new Error('build failed');

for (const c of cases) once(c.args); // warm the file cache
const times = new Map<string, number[]>(cases.map((c) => [c.label, []]));
for (let i = 0; i < RUNS; i++) {
  // Rotate the order so no case always runs right after another.
  for (let j = 0; j < cases.length; j++) {
    const c = cases[(i + j) % cases.length]!;
    times.get(c.label)!.push(once(c.args));
  }
}

const base = median(times.get('node -e 0')!);
console.log(`startup, ${RUNS} interleaved runs each (wall time, spawn to exit)`);
console.log(`${'case'.padEnd(22)} ${'median'.padStart(9)} ${'p90'.padStart(9)}  ratio to node -e 0`);
for (const c of cases) {
  const xs = times.get(c.label)!;
  console.log(`${c.label.padEnd(22)} ${ms(median(xs))} ${ms(p90(xs))}  ${(median(xs) / base).toFixed(2)}x`);
}
const ratio = median(times.get('marshal --version')!) / base;
console.log(
  `target: marshal --version within ${TARGET}x of node -e 0: ${ratio <= TARGET ? 'met' : 'NOT met'} (${ratio.toFixed(2)}x)`,
);

if (existsSync(GNU_TIME)) {
  const rss = (args: string[]) => median(Array.from({ length: 5 }, () => peakRssMb(args)));
  const rssBase = rss(cases[0]!.args);
  const rssVersion = rss(cases[1]!.args);
  const rssHelp = rss(cases[2]!.args);
  console.log(
    `peak RSS (median of 5): node -e 0 ${rssBase.toFixed(1)} MB, marshal --version ${rssVersion.toFixed(1)} MB (${(rssVersion / rssBase).toFixed(2)}x), marshal --help ${rssHelp.toFixed(1)} MB (${(rssHelp / rssBase).toFixed(2)}x)`,
  );
} else {
  console.log(`peak RSS: skipped (${GNU_TIME} not installed)`);
}
