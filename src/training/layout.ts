/**
 * Rank layout (pure): who takes part, each rank's slice of the dataset, its batch size and the
 * shared step count. With S0 = ceil(total / globalBatch), each rank's batch size is proportional to
 * its share (b_i = ceil(examples_i / S0)) and every rank runs the same S = max_i ceil(examples_i / b_i)
 * steps, so collectives line up while faster ranks process more examples per step.
 */
import { type ChunkPlan, chunk } from './chunk.ts';
import { assessConsistency, type ConsistencyResult } from './consistency.ts';
import type { Facts } from './facts.ts';
import { type Heterogeneity, shard } from './shard.ts';

export interface RankLayout {
  rank: number;
  node: string;
  host: string;
  transport: 'local' | 'ssh';
  local_rank: number;
  local_world_size: number;
  python: string;
  workdir: string;
  /** Examples/s this rank is expected to process (node throughput / slots). */
  throughput: number;
  share: number;
  start: number;
  end: number;
  examples: number;
  batch_size: number;
}

export interface LayoutOptions {
  /** Examples per step over all ranks (default 32 per rank). */
  globalBatchSize?: number;
  consistencyThreshold?: number;
  /** Judge script hashes against this one (a plan's recorded hash) instead of the majority. */
  referenceHash?: string;
  chunkThreshold?: number;
  chunkSize?: number;
}

export interface Layout {
  ranks: RankLayout[];
  steps: number;
  globalBatchSize: number;
  excluded: Array<{ node: string; reason: string }>;
  calibrated: boolean;
  consistency: ConsistencyResult;
  chunking: ChunkPlan;
  shardWarnings: string[];
  heterogeneity: Heterogeneity | null;
}

/** Lays out ranks over the nodes that are reachable, consistent and calibrated. Pure. */
export function layoutRanks(facts: Facts, options: LayoutOptions = {}): Layout {
  const consistency = assessConsistency(
    facts.probes.map((p) =>
      p.status === 'ok'
        ? { node: p.node, hash: p.scriptSha256, ...(p.scriptError ? { error: p.scriptError } : {}) }
        : { node: p.node, hash: null, error: p.reason },
    ),
    options.consistencyThreshold,
    options.referenceHash,
  );
  const excluded: Layout['excluded'] = [];
  const report = facts.calibration.report;
  const throughputOf = new Map<string, number>();
  for (const node of facts.cluster.nodes) {
    const probe = facts.probes.find((p) => p.node === node.name);
    if (!probe || probe.status === 'failed') {
      excluded.push({ node: node.name, reason: probe?.status === 'failed' ? probe.reason : 'not probed' });
      continue;
    }
    // When consistency fails outright the plan is blocked; keep every reachable node so it still shows a layout.
    // Judged against a plan's hash (`train check`) nothing is excluded: the plan still gives the node work.
    if (
      options.referenceHash === undefined &&
      consistency.status !== 'fail' &&
      !consistency.included.includes(node.name)
    ) {
      excluded.push({ node: node.name, reason: 'script differs from the majority copy' });
      continue;
    }
    if (report) {
      const c = report.nodes.find((n) => n.node === node.name);
      if (!c || c.status === 'failed' || c.throughput <= 0) {
        const why = !c ? 'not in the calibration' : c.status === 'failed' ? c.reason : 'zero throughput';
        excluded.push({ node: node.name, reason: `calibration: ${why}` });
        continue;
      }
      throughputOf.set(node.name, c.throughput);
    } else {
      throughputOf.set(node.name, node.slots);
    }
  }
  const workers: RankLayout[] = [];
  for (const node of facts.cluster.nodes) {
    const t = throughputOf.get(node.name);
    if (t === undefined) continue;
    for (let local = 0; local < node.slots; local++) {
      workers.push({
        rank: workers.length,
        node: node.name,
        host: node.host,
        transport: node.transport,
        local_rank: local,
        local_world_size: node.slots,
        python: node.python,
        workdir: node.workdir,
        throughput: t / node.slots,
        share: 0,
        start: 0,
        end: 0,
        examples: 0,
        batch_size: 1,
      });
    }
  }
  const total = facts.dataset.count;
  const globalBatchSize = options.globalBatchSize ?? 32 * Math.max(1, workers.length);
  const targetSteps = Math.max(1, Math.ceil(total / globalBatchSize));
  const chunkOptions = {
    ...(options.chunkThreshold !== undefined ? { threshold: options.chunkThreshold } : {}),
    ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
  };
  if (workers.length === 0) {
    return {
      ranks: [],
      steps: targetSteps,
      globalBatchSize,
      excluded,
      calibrated: report !== null,
      consistency,
      chunking: chunk([], chunkOptions),
      shardWarnings: [],
      heterogeneity: null,
    };
  }
  const result = shard(workers, total);
  const ranks = workers.map((w, i) => {
    const d = result.distribution[i]!;
    return {
      ...w,
      share: d.share,
      start: d.start,
      end: d.end,
      examples: d.examples,
      batch_size: Math.max(1, Math.ceil(d.examples / targetSteps)),
    };
  });
  // Rounding batch sizes up can finish every shard early: run only as many steps as the longest needs.
  const steps = Math.max(1, ...ranks.map((r) => Math.ceil(r.examples / r.batch_size)));
  return {
    ranks,
    steps,
    globalBatchSize,
    excluded,
    calibrated: report !== null,
    consistency,
    chunking: chunk(ranks, chunkOptions),
    shardWarnings: result.warnings,
    heterogeneity: result.heterogeneity,
  };
}
