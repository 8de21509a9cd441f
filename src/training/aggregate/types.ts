/** The robust aggregation rules `aggregate()` knows, in the order help lists them. */
export const AGGREGATION_RULES = [
  'mean',
  'median',
  'trimmed-mean',
  'krum',
  'multi-krum',
  'geometric-median',
  'centered-clipping',
] as const;

export type AggregationRule = (typeof AGGREGATION_RULES)[number];

/** Input vectors: one per worker, all of the same length. */
export type Vector = Float32Array | Float64Array;
export type Vectors = ReadonlyArray<Vector>;

export interface AggregateOptions {
  /** Number of Byzantine inputs to tolerate: a non-negative integer. */
  f: number;
  /** multi-krum: how many of the best-scoring vectors to average (1 <= m <= n - f; default n - f). */
  m?: number;
  /** trimmed-mean: values dropped at each end of every coordinate (f <= trim, n > 2 trim; default f). */
  trim?: number;
  /** geometric-median: iteration cap (default 1000); centered-clipping: number L of clipping steps (default 3). */
  iterations?: number;
  /** geometric-median: stop when a step moves the estimate by at most tolerance * the mean distance to it (default 1e-9). */
  tolerance?: number;
  /** geometric-median: smoothing floor on distances (default 1e-6 * the median over inputs of the lower median distance to the others). */
  nu?: number;
  /** centered-clipping: clipping radius (default: median distance of the inputs to the start point). */
  tau?: number;
  /** centered-clipping: start point (default: the coordinate-wise median). */
  momentum?: Vector;
  /**
   * Where to write the result: a Float64Array of length d sharing no memory with the inputs,
   * returned as `result` (default: a new array). Reusing one across rounds saves the page faults
   * of a fresh d-sized array, the larger part of the time of the cheap rules at d = 1e7 (see
   * README, "Memory: huge pages, or a result buffer"). On a refusal its contents are unspecified.
   */
  out?: Float64Array;
  /** Refuse any non-finite input value instead of counting its vector as Byzantine (default false). */
  strict?: boolean;
}

export interface AggregateResult {
  rule: AggregationRule;
  f: number;
  result: Float64Array;
  /** krum / multi-krum: indices of the chosen vectors, best score first. */
  selected?: number[];
  /** krum / multi-krum: every input's score (sum of squared distances to its n - f - 2 nearest). */
  scores?: number[];
  /** Iterative rules: steps taken (geometric-median, centered-clipping). */
  iterations?: number;
  /** centered-clipping: the clipping radius used. */
  tau?: number;
  /** geometric-median: the smoothing floor used. */
  nu?: number;
  /** Inputs with a NaN or infinite value, left out as Byzantine (they count toward f), ascending. */
  nonFinite: number[];
}
