import { InvalidInputError } from '../core/errors.ts';

/** One worker as calibration measured it. */
export interface ShardWorker {
  /** Unique non-negative integer rank; ranges are laid out in rank order. */
  rank: number;
  node: string;
  /** Examples per second; 0 means offline (gets no examples). */
  throughput: number;
}

/** One worker's slice of the dataset: the half-open range [start, end) of `examples` examples. */
export interface ShardEntry {
  rank: number;
  node: string;
  throughput: number;
  /** throughput / sum of throughputs (0 for offline workers). */
  share: number;
  examples: number;
  start: number;
  end: number;
}

/** Spread of the throughputs of the workers that have work (throughput > 0). */
export interface Heterogeneity {
  min: number;
  max: number;
  mean: number;
  /** (max - min) / mean. */
  spread: number;
  /** Coefficient of variation: population standard deviation / mean. */
  cv: number;
}

export interface ShardResult {
  /** One entry per worker, in rank order. */
  distribution: ShardEntry[];
  warnings: string[];
  heterogeneity: Heterogeneity;
}

/** Above this spread ((max - min) / mean) the shard result carries a heterogeneity warning. */
export const HETEROGENEITY_WARNING_SPREAD = 0.2;

/**
 * Splits `total` examples among workers in proportion to their throughput with the
 * largest-remainder method: every worker gets the floor of its quota, and the examples left over
 * go one each to the largest fractional remainders (ties to the lower rank). The counts sum to
 * `total` exactly and each is within one example of its proportional quota. Pure.
 *
 * @example
 * shard([{ rank: 0, node: 'a', throughput: 1.2 }, { rank: 1, node: 'b', throughput: 0.85 }], 10)
 * // examples 6 and 4, ranges [0, 6) and [6, 10)
 */
export function shard(workers: readonly ShardWorker[], total: number): ShardResult {
  validate(workers, total);
  const sorted = [...workers].sort((a, b) => a.rank - b.rank);
  const sum = sorted.reduce((s, w) => s + w.throughput, 0);
  const quotas = sorted.map((w) => (w.throughput / sum) * total);
  const examples = quotas.map((q) => Math.floor(q));
  let left = total - examples.reduce((s, e) => s + e, 0);
  const active = sorted.map((_, i) => i).filter((i) => sorted[i]!.throughput > 0);
  // Largest remainders first; equal remainders go to the lower rank (stable order).
  const byRemainder = [...active].sort(
    (a, b) => quotas[b]! - examples[b]! - (quotas[a]! - examples[a]!) || a - b,
  );
  // Rounding of the quotas can leave `left` just outside [0, active.length]; cycling keeps the sum exact.
  for (let k = 0; left > 0; k++, left--) {
    const i = byRemainder[k % byRemainder.length]!;
    examples[i]! += 1;
  }
  for (let k = 0; left < 0; k++) {
    const i = byRemainder[byRemainder.length - 1 - (k % byRemainder.length)]!;
    if (examples[i]! > 0) {
      examples[i]! -= 1;
      left++;
    }
  }
  const distribution: ShardEntry[] = [];
  let start = 0;
  sorted.forEach((w, i) => {
    const n = examples[i]!;
    distribution.push({
      rank: w.rank,
      node: w.node,
      throughput: w.throughput,
      share: w.throughput / sum,
      examples: n,
      start,
      end: start + n,
    });
    start += n;
  });
  const warnings: string[] = [];
  const offline = sorted.filter((w) => w.throughput === 0);
  if (offline.length > 0) {
    const names = offline.map((w) => `rank ${w.rank} (${w.node})`).join(', ');
    warnings.push(`excluding workers with zero throughput from the distribution: ${names}`);
  }
  const heterogeneity = measureHeterogeneity(active.map((i) => sorted[i]!.throughput));
  if (heterogeneity.spread > HETEROGENEITY_WARNING_SPREAD) {
    warnings.push(
      `heterogeneous throughputs: spread (max - min) / mean = ${(heterogeneity.spread * 100).toFixed(1)}% ` +
        `(min ${heterogeneity.min}, max ${heterogeneity.max}) exceeds ${HETEROGENEITY_WARNING_SPREAD * 100}%; ` +
        'shares follow measured throughput',
    );
  }
  return { distribution, warnings, heterogeneity };
}

/** Min, max, mean, spread and coefficient of variation of positive throughputs. */
export function measureHeterogeneity(throughputs: readonly number[]): Heterogeneity {
  const n = throughputs.length;
  if (n === 0) return { min: 0, max: 0, mean: 0, spread: 0, cv: 0 };
  const min = Math.min(...throughputs);
  const max = Math.max(...throughputs);
  const mean = throughputs.reduce((s, t) => s + t, 0) / n;
  const variance = throughputs.reduce((s, t) => s + (t - mean) ** 2, 0) / n;
  return { min, max, mean, spread: (max - min) / mean, cv: Math.sqrt(variance) / mean };
}

function validate(workers: readonly ShardWorker[], total: number): void {
  if (!Number.isSafeInteger(total) || total < 1) {
    throw new InvalidInputError('total', total, 'a positive safe integer (dataset size in examples)');
  }
  if (!Array.isArray(workers) || workers.length === 0) {
    throw new InvalidInputError('workers', workers, 'at least one worker');
  }
  const ranks = new Set<number>();
  workers.forEach((w, i) => {
    if (!Number.isSafeInteger(w.rank) || w.rank < 0) {
      throw new InvalidInputError(`workers[${i}].rank`, w.rank, 'a non-negative integer');
    }
    if (ranks.has(w.rank))
      throw new InvalidInputError(`workers[${i}].rank`, w.rank, 'a rank no other worker has');
    ranks.add(w.rank);
    if (typeof w.node !== 'string' || w.node === '') {
      throw new InvalidInputError(`workers[${i}].node`, w.node, 'a non-empty node name');
    }
    if (typeof w.throughput !== 'number' || !Number.isFinite(w.throughput) || w.throughput < 0) {
      throw new InvalidInputError(
        `workers[${i}].throughput`,
        w.throughput,
        'a finite number >= 0 (examples/s)',
      );
    }
  });
  const sum = workers.reduce((s, w) => s + w.throughput, 0);
  if (!Number.isFinite(sum)) {
    throw new InvalidInputError('workers[].throughput', sum, 'throughputs whose sum is finite');
  }
  if (workers.every((w) => w.throughput === 0)) {
    throw new InvalidInputError(
      'workers[].throughput',
      workers.map((w) => w.throughput),
      'at least one worker with throughput > 0 (all workers are offline)',
    );
  }
}
