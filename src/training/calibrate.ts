/**
 * Hardware calibration (effectful): runs a benchmark on every node, in its workdir with its
 * python, parallel across hosts and one after another on a shared host (two `local` nodes would
 * otherwise measure each other). Each node runs `repeats` times; the median is kept, with the
 * spread of the repeats. A node whose repeats spread more than NOISE_WARNING_SPREAD is measured
 * again, once (`remeasureRepeats`). A node that fails is a result with a reason, never an exception.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { MarshalError } from '../core/errors.ts';
import { runCommand } from '../core/run-command.ts';
import { resolveInside } from '../core/safe-path.ts';
import { BUILTIN_BENCHMARK, NOISE_WARNING_SPREAD, sampleSpread } from './calibration-spread.ts';
import { type ClusterNode, hostKey } from './cluster.ts';
import { median } from './robust-stats.ts';
import { prepareCommand } from './transport.ts';

/** The benchmark shipped with marshal: a small PyTorch training step (examples/s). */
export const DEFAULT_BENCHMARK = fileURLToPath(new URL('../../python/marshal_benchmark.py', import.meta.url));

/** What a benchmark prints as its last stdout line. */
export const BenchmarkOutputSchema = z.object({
  throughput: z.number().finite().min(0),
  memory_gb: z.number().finite().min(0),
  latency_ms: z.number().finite().min(0),
  /** What was measured (optional): a model name and the batch per step, recorded in the report. */
  model: z.string().max(200).optional(),
  batch: z.number().int().min(1).optional(),
});
export type BenchmarkOutput = z.output<typeof BenchmarkOutputSchema>;

export const NodeCalibrationSchema = z.discriminatedUnion('status', [
  z.strictObject({
    node: z.string(),
    status: z.literal('ok'),
    throughput: z.number().finite().min(0),
    memory_gb: z.number().finite().min(0),
    latency_ms: z.number().finite().min(0),
    /** Throughput of every kept repeat (the median is `throughput`). */
    samples: z.array(z.number().finite()),
    /** (max - min) / median of `samples`. */
    spread: z.number().finite().min(0).optional(),
    /** A first round whose spread was above the threshold, measured again; its samples were dropped. */
    discarded_samples: z.array(z.number().finite()).optional(),
    /** The model and batch the benchmark says it ran. */
    model: z.string().optional(),
    batch: z.number().int().min(1).optional(),
  }),
  z.strictObject({ node: z.string(), status: z.literal('failed'), reason: z.string() }),
]);
export type NodeCalibration = z.output<typeof NodeCalibrationSchema>;

/** The `train calibrate --json` document; `train plan --calibration` reads it back. */
export const CalibrationReportSchema = z.strictObject({
  schemaVersion: z.literal(1),
  kind: z.literal('marshal.calibration'),
  benchmark: z.string(),
  duration_s: z.number().positive(),
  repeats: z.number().int().min(1),
  measured_at: z.string(),
  nodes: z.array(NodeCalibrationSchema),
});
export type CalibrationReport = z.output<typeof CalibrationReportSchema>;

export interface CalibrateOptions {
  /** Benchmark script relative to each node's workdir; the shipped PyTorch step when omitted. */
  benchmark?: string;
  /** Seconds each benchmark run measures for (passed as MARSHAL_BENCH_DURATION). */
  durationS: number;
  repeats: number;
  /**
   * A node whose repeats spread more than {@link NOISE_WARNING_SPREAD} is measured again, once,
   * with this many more runs (default `repeats`; 0 turns re-measuring off). A quiet second round
   * replaces the first (kept in `discarded_samples`); a noisy one is pooled with it.
   */
  remeasureRepeats?: number;
  /** Bound on one benchmark run, import time included. */
  timeoutMs?: number;
  /** Environment the node processes inherit (the CLI passes io.env). */
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  /** Clock for `measured_at` (an input, so tests can pin it). */
  now?: () => Date;
  onEvent?: (event: { type: 'node-start' | 'node-done'; node: string; result?: NodeCalibration }) => void;
}

/** Parses a benchmark's stdout: the last non-empty line must be the JSON object. */
export function parseBenchmarkOutput(stdout: string): BenchmarkOutput | { error: string } {
  const last = stdout.trimEnd().split('\n').pop()?.trim() ?? '';
  if (last === '') return { error: 'benchmark printed nothing on stdout' };
  let raw: unknown;
  try {
    raw = JSON.parse(last);
  } catch {
    return { error: `last stdout line is not JSON: ${last.slice(0, 200)}` };
  }
  const parsed = BenchmarkOutputSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { error: `benchmark output ${issue.path.join('.') || '(root)'}: ${issue.message}` };
  }
  return parsed.data;
}

async function benchmarkArgv(node: ClusterNode, benchmark: string | undefined): Promise<string[]> {
  if (benchmark === undefined) {
    // A remote node has no copy of marshal: ship the default benchmark's source inline.
    if (node.transport === 'ssh') return [node.python, '-c', await readFile(DEFAULT_BENCHMARK, 'utf8')];
    return [node.python, DEFAULT_BENCHMARK];
  }
  if (node.transport === 'local') {
    return [node.python, await resolveInside(node.workdir, benchmark, { field: 'benchmark' })];
  }
  return [node.python, benchmark];
}

type Failed = Extract<NodeCalibration, { status: 'failed' }>;

/** Runs the benchmark `n` times on a node; the first failure ends it. */
async function measure(
  node: ClusterNode,
  options: CalibrateOptions,
  n: number,
): Promise<BenchmarkOutput[] | Failed> {
  const samples: BenchmarkOutput[] = [];
  const argv = await benchmarkArgv(node, options.benchmark);
  const cmd = prepareCommand(node, argv, { MARSHAL_BENCH_DURATION: String(options.durationS) });
  const timeoutMs = options.timeoutMs ?? Math.ceil(options.durationS * 1000) + 120_000;
  for (let i = 0; i < n; i++) {
    const r = await runCommand(cmd.argv, {
      cwd: cmd.cwd,
      env: { ...options.env, ...cmd.env },
      timeoutMs,
      signal: options.signal,
      maxOutputBytes: 1 << 20,
    });
    if (r.timedOut)
      return { node: node.name, status: 'failed', reason: `benchmark timed out after ${timeoutMs} ms` };
    if (r.code !== 0) {
      const tail = r.stderr.trim().split('\n').slice(-5).join('\n');
      return {
        node: node.name,
        status: 'failed',
        reason: `benchmark exited with ${r.code ?? r.signal}${tail ? `: ${tail}` : ''}`,
      };
    }
    const out = parseBenchmarkOutput(r.stdout);
    if ('error' in out) return { node: node.name, status: 'failed', reason: out.error };
    samples.push(out);
  }
  return samples;
}

async function calibrateNode(node: ClusterNode, options: CalibrateOptions): Promise<NodeCalibration> {
  const first = await measure(node, options, options.repeats);
  if (!Array.isArray(first)) return first;
  let samples = first;
  let discarded: number[] | undefined;
  const extra = options.remeasureRepeats ?? options.repeats;
  // Noisy repeats (another job, thermal throttling, a first-run cache) make the share a guess:
  // measure once more, bounded. A quiet second round stands on its own; a noisy one is pooled.
  if (first.length >= 2 && extra > 0 && sampleSpread(first.map((s) => s.throughput)) > NOISE_WARNING_SPREAD) {
    const second = await measure(node, options, extra);
    if (!Array.isArray(second)) return second;
    if (second.length >= 2 && sampleSpread(second.map((s) => s.throughput)) <= NOISE_WARNING_SPREAD) {
      discarded = first.map((s) => s.throughput);
      samples = second;
    } else samples = [...first, ...second];
  }
  const throughputs = samples.map((s) => s.throughput);
  const last = samples.at(-1)!;
  return {
    node: node.name,
    status: 'ok',
    throughput: median(throughputs),
    memory_gb: median(samples.map((s) => s.memory_gb)),
    latency_ms: median(samples.map((s) => s.latency_ms)),
    samples: throughputs,
    spread: sampleSpread(throughputs),
    ...(discarded ? { discarded_samples: discarded } : {}),
    ...(last.model !== undefined ? { model: last.model } : {}),
    ...(last.batch !== undefined ? { batch: last.batch } : {}),
  };
}

/**
 * Calibrates every node. Hosts run in parallel; nodes on one host run in sequence. Returns the
 * report in node order. Only an abort (or a path escape in `benchmark`) throws.
 */
export async function calibrateCluster(
  nodes: readonly ClusterNode[],
  options: CalibrateOptions,
): Promise<CalibrationReport> {
  const groups = new Map<string, ClusterNode[]>();
  for (const n of nodes) groups.set(hostKey(n), [...(groups.get(hostKey(n)) ?? []), n]);
  const results = new Map<string, NodeCalibration>();
  await Promise.all(
    [...groups.values()].map(async (group) => {
      for (const node of group) {
        options.signal?.throwIfAborted();
        options.onEvent?.({ type: 'node-start', node: node.name });
        let result: NodeCalibration;
        try {
          result = await calibrateNode(node, options);
        } catch (err) {
          if (options.signal?.aborted || (err instanceof MarshalError && err.code === 'E_PATH_ESCAPE'))
            throw err;
          result = { node: node.name, status: 'failed', reason: (err as Error).message };
        }
        results.set(node.name, result);
        options.onEvent?.({ type: 'node-done', node: node.name, result });
      }
    }),
  );
  return {
    schemaVersion: 1,
    kind: 'marshal.calibration',
    benchmark: options.benchmark ?? BUILTIN_BENCHMARK,
    duration_s: options.durationS,
    repeats: options.repeats,
    measured_at: (options.now ?? (() => new Date()))().toISOString(),
    nodes: nodes.map((n) => results.get(n.name)!),
  };
}
