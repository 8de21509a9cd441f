import { InvalidInputError } from '../core/errors.ts';

/** A worker's half-open range of examples, as `shard()` lays it out. */
export interface ChunkInputRange {
  rank: number;
  start: number;
  end: number;
}

export interface ChunkOptions {
  /** Chunking turns on when the dataset has at least this many examples. Default 50,000. */
  threshold?: number;
  /** Fixed chunk size in examples (used when no memory budget is given). */
  chunkSize?: number;
  /** With `bytesPerExample`: chunk size = floor(memoryBudgetBytes / bytesPerExample). */
  memoryBudgetBytes?: number;
  bytesPerExample?: number;
  /** Used when neither a memory budget nor `chunkSize` is given. Default 10,000. */
  defaultChunkSize?: number;
}

/** One chunk: the half-open range [start, end) of a worker's examples. */
export interface Chunk {
  rank: number;
  /** 0-based position of this chunk within its worker's range. */
  index: number;
  start: number;
  end: number;
}

export interface ChunkPlan {
  enabled: boolean;
  /** Why chunking is on or off and where the chunk size came from. */
  reason: string;
  threshold: number;
  /** null when chunking is off. */
  chunkSize: number | null;
  /** Number of chunks over every worker (0 when off). */
  numChunks: number;
  /** Chunks of each worker, in the input order (counted, never listed). */
  chunksPerRank: Array<{ rank: number; count: number }>;
  /**
   * Worker by worker in the input order, each worker's chunks in order; empty when off; null when
   * there are more than {@link MAX_LISTED_CHUNKS} (described by chunkSize and the ranges instead of
   * materialised: chunk i of a range [s, e) is [s + i * chunkSize, min(s + (i + 1) * chunkSize, e))).
   */
  chunks: Chunk[] | null;
}

/** Beyond this many chunks the list is described (counts and size), not built. */
export const MAX_LISTED_CHUNKS = 100_000;

/** Dataset size from which coordinator-level chunking turns on (the original's `>= 50_000`). */
export const DEFAULT_CHUNK_THRESHOLD = 50_000;
/** Chunk size when neither a memory budget nor an explicit size is given. */
export const DEFAULT_CHUNK_SIZE = 10_000;

/**
 * Plans coordinator-level chunking over the workers' ranges. Enabled when the total number of
 * examples reaches `threshold`; then every worker's range is cut into chunks of `chunkSize`
 * (the last one shorter), covering each example exactly once, in order. Pure.
 */
export function chunk(distribution: readonly ChunkInputRange[], options: ChunkOptions = {}): ChunkPlan {
  const threshold = positiveInteger('threshold', options.threshold ?? DEFAULT_CHUNK_THRESHOLD);
  distribution.forEach((d, i) => {
    if (!Number.isSafeInteger(d.start) || d.start < 0) {
      throw new InvalidInputError(`distribution[${i}].start`, d.start, 'a non-negative integer');
    }
    if (!Number.isSafeInteger(d.end) || d.end < d.start) {
      throw new InvalidInputError(`distribution[${i}].end`, d.end, `an integer >= start (${d.start})`);
    }
  });
  const { size, source } = chunkSizeFrom(options);
  const total = distribution.reduce((s, d) => s + (d.end - d.start), 0);
  if (total < threshold) {
    return {
      enabled: false,
      reason: `${total} examples is below the chunking threshold of ${threshold}`,
      threshold,
      chunkSize: null,
      numChunks: 0,
      chunksPerRank: distribution.map((d) => ({ rank: d.rank, count: 0 })),
      chunks: [],
    };
  }
  // Counted first (arithmetic), so the size of the list is known before any of it is built.
  const chunksPerRank = distribution.map((d) => ({
    rank: d.rank,
    count: Math.ceil((d.end - d.start) / size),
  }));
  const numChunks = chunksPerRank.reduce((s, c) => s + c.count, 0);
  let chunks: Chunk[] | null = null;
  if (numChunks <= MAX_LISTED_CHUNKS) {
    chunks = [];
    for (const d of distribution) {
      for (let start = d.start, index = 0; start < d.end; start += size, index++) {
        chunks.push({ rank: d.rank, index, start, end: Math.min(start + size, d.end) });
      }
    }
  }
  return {
    enabled: true,
    reason: `${total} examples reaches the chunking threshold of ${threshold}; chunk size ${size} ${source}`,
    threshold,
    chunkSize: size,
    numChunks,
    chunksPerRank,
    chunks,
  };
}

function chunkSizeFrom(options: ChunkOptions): { size: number; source: string } {
  const { memoryBudgetBytes, bytesPerExample } = options;
  if (memoryBudgetBytes !== undefined || bytesPerExample !== undefined) {
    const budget = positiveFinite('memoryBudgetBytes', memoryBudgetBytes);
    const per = positiveFinite('bytesPerExample', bytesPerExample);
    const size = Math.floor(budget / per);
    if (size < 1) {
      throw new InvalidInputError(
        'memoryBudgetBytes',
        budget,
        `a budget that holds at least one example of ${per} bytes`,
      );
    }
    return { size, source: `from a memory budget of ${budget} bytes at ${per} bytes per example` };
  }
  if (options.chunkSize !== undefined) {
    return { size: positiveInteger('chunkSize', options.chunkSize), source: '(configured)' };
  }
  const size = positiveInteger('defaultChunkSize', options.defaultChunkSize ?? DEFAULT_CHUNK_SIZE);
  return { size, source: '(default)' };
}

function positiveInteger(field: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new InvalidInputError(field, value, 'a positive integer');
  return value;
}

function positiveFinite(field: string, value: number | undefined): number {
  if (value === undefined) {
    throw new InvalidInputError(
      field,
      value,
      'a positive number (memoryBudgetBytes and bytesPerExample go together)',
    );
  }
  if (!Number.isFinite(value) || value <= 0)
    throw new InvalidInputError(field, value, 'a positive finite number');
  return value;
}
