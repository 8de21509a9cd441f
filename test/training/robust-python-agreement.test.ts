/**
 * The Python rules (python/marshal_robust.py, what training ranks run inside robust_all_reduce)
 * against marshal's TypeScript rules (`aggregate()`): identical vectors, the same result to 1e-9
 * relative, the same selected and non-finite (rejected) indices. Every case of the file goes to one
 * /usr/bin/python3 process as a JSON batch (Debian's torch 1.13).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { deadline } from '../../src/core/deadline.ts';
import { MarshalError } from '../../src/core/errors.ts';
import {
  AGGREGATION_RULES,
  type AggregateResult,
  type AggregationRule,
  aggregate,
  referenceAggregate,
} from '../../src/training/aggregate/index.ts';
import { PROPERTY_SEED } from '../helpers/property-seed.ts';
import { MIN_N, toVectors } from './aggregate-helpers.ts';

const ROOT = join(import.meta.dirname, '../..');
const PYTHON = '/usr/bin/python3';
/** Relative agreement required: |py - ts| <= TOL (|ts| + spread) per coordinate. */
const TOL = 1e-9;

interface Case {
  label: string;
  rule: AggregationRule;
  f: number;
  rows: number[][];
  /** The honest inputs' spread: the scale the absolute part of the tolerance is taken at. */
  spread: number;
  options?: Record<string, number>;
}

interface PyResult {
  result?: Array<number | string>;
  selected?: number[] | null;
  scores?: Array<number | string> | null;
  tau?: number | null;
  nu?: number | null;
  nonFinite?: number[];
  error?: string;
  condition?: string;
}

const encode = (x: number) => (Number.isFinite(x) ? x : String(x));
const decode = (x: number | string) => (typeof x === 'number' ? x : Number(x));

/** fast-check samples from the file's pinned seed: the same cases on every run. */
function sample<T>(arb: fc.Arbitrary<T>, n: number, salt: number): T[] {
  return fc.sample(arb, { numRuns: n, seed: PROPERTY_SEED + salt });
}

const dims = (min: number, max: number) => fc.integer({ min, max });

/** Random inputs: f in 0..2, n from the rule's minimum to 4 more, values around a random centre. */
function randomCases(rule: AggregationRule, salt: number): Case[] {
  const arb = fc
    .record({ f: fc.integer({ min: 0, max: 2 }), extra: fc.integer({ min: 0, max: 4 }), d: dims(1, 12) })
    .chain(({ f, extra, d }) =>
      fc.record({
        f: fc.constant(f),
        centre: fc.double({ min: -10, max: 10, noNaN: true }),
        rows: fc.array(
          fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: d, maxLength: d }),
          {
            minLength: MIN_N[rule](f) + extra,
            maxLength: MIN_N[rule](f) + extra,
          },
        ),
      }),
    );
  return sample(arb, 12, salt).map(({ f, centre, rows }, i) => ({
    label: `random #${i}`,
    rule,
    f,
    rows: rows.map((r) => r.map((x) => centre + x)),
    spread: 1,
  }));
}

/** An honest cluster (spread 1e-3) and f outliers of norm 1e4..1e12 at any index. */
function outlierCases(rule: AggregationRule, salt: number): Case[] {
  const arb = fc
    .record({ f: fc.integer({ min: 1, max: 2 }), extra: fc.integer({ min: 0, max: 3 }), d: dims(1, 6) })
    .chain(({ f, extra, d }) =>
      fc.record({
        f: fc.constant(f),
        centre: fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: d, maxLength: d }),
        honest: fc.array(
          fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: d, maxLength: d }),
          {
            minLength: MIN_N[rule](f) + extra - f,
            maxLength: MIN_N[rule](f) + extra - f,
          },
        ),
        outliers: fc.array(
          fc.record({
            exponent: fc.integer({ min: 4, max: 12 }),
            direction: fc.array(fc.integer({ min: -100, max: 100 }), { minLength: d, maxLength: d }),
            at: fc.nat(),
          }),
          { minLength: f, maxLength: f },
        ),
      }),
    );
  return sample(arb, 12, salt).map(({ f, centre, honest, outliers }, i) => {
    const rows = honest.map((u) => u.map((x, k) => centre[k]! + 1e-3 * x));
    for (const o of outliers) {
      const dir = o.direction.map((x) => x || 1);
      const norm = Math.hypot(...dir);
      rows.splice(
        o.at % (rows.length + 1),
        0,
        dir.map((x, k) => centre[k]! + (10 ** o.exponent * x) / norm),
      );
    }
    return { label: `outliers #${i}`, rule, f, rows, spread: 1e-3 };
  });
}

/** Deterministic honest rows: a smooth pattern around `centre` with the given spread. */
function cluster(n: number, d: number, centre: number, spread: number): number[][] {
  return Array.from({ length: n }, (_, i) =>
    Array.from({ length: d }, (_, k) => centre + spread * Math.sin(7 * i + 3 * k + 1)),
  );
}

/** NaN / Infinity inputs (counted as Byzantine), extreme magnitudes, exact ties. */
function adversarialCases(rule: AggregationRule): Case[] {
  const cases: Case[] = [];
  const n = MIN_N[rule](2) + 1;
  for (const [label, bad] of [
    ['one NaN', [Number.NaN]],
    ['Infinity and -Infinity', [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]],
  ] as const) {
    const rows = cluster(n, 5, 2, 0.1);
    bad.forEach((x, j) => {
      rows[j * 2]![j + 1] = x;
    });
    cases.push({ label, rule, f: 2, rows, spread: 0.1 });
  }
  for (const [centre, relative] of [
    [1e153, 1e-3],
    [-3e153, 1e-3],
    [1e-160, 0.1],
    [5e-160, 0.1],
  ] as const) {
    const spread = Math.abs(centre) * relative;
    cases.push({
      label: `magnitude ${centre}`,
      rule,
      f: 1,
      rows: cluster(MIN_N[rule](1) + 2, 4, centre, spread),
      spread,
    });
  }
  const tiny = cluster(MIN_N[rule](1) + 1, 4, 1e-160, 1e-159);
  tiny[0] = tiny[0]!.map((x) => x * 1e6);
  cases.push({ label: 'outlier at 1e-154 among 1e-160', rule, f: 1, rows: tiny, spread: 1e-159 });
  const huge = cluster(MIN_N[rule](1) + 1, 4, 1e153, 1e150);
  huge[1] = huge[1]!.map((x) => -x * 10);
  cases.push({ label: 'outlier at 1e154 among 1e153', rule, f: 1, rows: huge, spread: 1e150 });
  // Ties: every input equal; and duplicated inputs (exact score ties for Krum: lower index wins).
  cases.push({
    label: 'all inputs equal',
    rule,
    f: 1,
    rows: cluster(MIN_N[rule](1), 3, 4, 0).map((r) => r),
    spread: 1,
  });
  const dup = [
    [1, 2, 3],
    [1, 2, 3],
    [2, 2, 3],
    [1, 2, 4],
    [1, 2, 3],
    [0, 3, 3],
    [9, 9, 9],
  ];
  cases.push({
    label: 'duplicated inputs',
    rule,
    f: 1,
    rows: dup.slice(0, Math.max(MIN_N[rule](1), 5)),
    spread: 1,
  });
  return cases;
}

function optionCases(): Case[] {
  const rows = cluster(9, 6, 1, 0.5);
  rows[4] = rows[4]!.map((x) => x * 1e6);
  return [
    { label: 'trim 3', rule: 'trimmed-mean', f: 1, rows, spread: 0.5, options: { trim: 3 } },
    { label: 'm 2', rule: 'multi-krum', f: 1, rows, spread: 0.5, options: { m: 2 } },
    {
      label: 'tau 0.1, 5 steps',
      rule: 'centered-clipping',
      f: 1,
      rows,
      spread: 0.5,
      options: { tau: 0.1, iterations: 5 },
    },
    {
      label: 'nu 0.01, 20 steps',
      rule: 'geometric-median',
      f: 1,
      rows,
      spread: 0.5,
      options: { nu: 0.01, iterations: 20 },
    },
    {
      label: 'tolerance 1e-3',
      rule: 'geometric-median',
      f: 1,
      rows,
      spread: 0.5,
      options: { tolerance: 1e-3 },
    },
  ];
}

/** Inputs a rule must refuse on both sides. */
function refusedCases(): Case[] {
  const rows = cluster(4, 3, 0, 1);
  const nan = cluster(5, 3, 0, 1);
  nan[0]![0] = Number.NaN;
  nan[1]![1] = Number.NaN;
  return [
    { label: 'krum n < 2f + 3', rule: 'krum', f: 1, rows, spread: 1 },
    { label: 'median n < 2f + 1', rule: 'median', f: 2, rows, spread: 1 },
    { label: 'trimmed-mean trim < f', rule: 'trimmed-mean', f: 1, rows, spread: 1, options: { trim: 0 } },
    {
      label: 'multi-krum m > n - f',
      rule: 'multi-krum',
      f: 1,
      rows: cluster(5, 3, 0, 1),
      spread: 1,
      options: { m: 5 },
    },
    { label: 'more non-finite inputs than f', rule: 'mean', f: 1, rows: nan, spread: 1 },
  ];
}

const CASES: Case[] = [
  ...AGGREGATION_RULES.flatMap((rule, r) => [
    ...randomCases(rule, 100 + r),
    ...outlierCases(rule, 200 + r),
    ...adversarialCases(rule),
  ]),
  ...optionCases(),
];
const REFUSED = refusedCases();
/**
 * A cluster at 1e-160 with spread 1e-163 and no outlier: its squared distances (1e-326) underflow
 * to 0 in the fast TypeScript kernels, which then see equal inputs; python (distances scaled per
 * difference) agrees with the TypeScript float64 reference (`referenceAggregate`) instead.
 */
const TINY: Case[] = AGGREGATION_RULES.map((rule) => ({
  label: 'cluster 1e-160, spread 1e-163',
  rule,
  f: 1,
  rows: cluster(7, 4, 1e-160, 1e-163),
  spread: 1e-163,
}));

async function runPython(cases: Case[]): Promise<PyResult[]> {
  const input = JSON.stringify({
    cases: cases.map((c) => ({
      rule: c.rule,
      f: c.f,
      vectors: c.rows.map((r) => r.map(encode)),
      options: c.options ?? {},
    })),
  });
  const d = deadline(300_000, [], 'python agreement batch');
  try {
    const child = spawn(PYTHON, [join(ROOT, 'python/marshal_robust.py'), '--batch'], {
      signal: d.signal,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    child.stderr.on('data', (b: Buffer) => {
      err += b.toString();
    });
    child.stdin.end(input);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    assert.equal(code, 0, `python exited ${code}: ${err}`);
    return (JSON.parse(out) as { results: PyResult[] }).results;
  } finally {
    d.clear();
  }
}

function tsAggregate(c: Case): AggregateResult {
  return aggregate(c.rule, toVectors(c.rows), { f: c.f, ...(c.options ?? {}) });
}

function assertAgree(c: Case, ts: AggregateResult, py: PyResult): void {
  const what = `${c.rule} ${c.label}`;
  assert.equal(py.error, undefined, `${what}: python refused: ${py.error}`);
  const result = py.result!.map(decode);
  assert.equal(result.length, ts.result.length, `${what}: length`);
  let expected = ts.result;
  if (ts.selected) {
    const chosen = sameSelection(what, py.selected!, ts.selected, ts.scores!);
    // Tied at the cut: python kept another of the equally good inputs; its result is their average.
    if (chosen) expected = aggregate('mean', toVectors(chosen.map((i) => c.rows[i]!)), { f: 0 }).result;
  }
  expected.forEach((e, k) => {
    const a = result[k]!;
    assert.ok(
      Math.abs(a - e) <= TOL * (Math.abs(e) + c.spread),
      `${what}: coordinate ${k}: python ${a} vs typescript ${e}`,
    );
  });
  assert.deepEqual(py.nonFinite, ts.nonFinite, `${what}: non-finite (rejected) inputs`);
  if (!ts.selected) assert.equal(py.selected, null, `${what}: selected`);
  if (ts.scores) {
    const scores = py.scores!.map(decode);
    ts.scores.forEach((e, i) => {
      const a = scores[i]!;
      assert.ok(a === e || Math.abs(a - e) <= TOL * Math.abs(e), `${what}: score ${i}: ${a} vs ${e}`);
    });
  }
  if (ts.tau !== undefined)
    assert.ok(Math.abs(py.tau! - ts.tau) <= TOL * (ts.tau + c.spread), `${what}: tau`);
  if (ts.nu !== undefined)
    assert.ok(Math.abs(py.nu! - ts.nu) <= TOL * ts.nu, `${what}: nu ${py.nu} vs ${ts.nu}`);
}

const tied = (a: number, b: number) => a === b || Math.abs(a - b) <= TOL * Math.max(Math.abs(a), Math.abs(b));

/**
 * Krum's selection: the same indices in the same order, except that scores equal to 1e-9 (exact
 * ties in one implementation round apart in the other) may be ordered either way. Returns python's
 * selection when it differs from typescript's as a set (only possible for a tie at the cut).
 */
function sameSelection(what: string, py: number[], ts: number[], scores: number[]): number[] | undefined {
  assert.equal(py.length, ts.length, `${what}: selected ${py} vs ${ts}`);
  py.forEach((i, t) => {
    assert.ok(tied(scores[i]!, scores[ts[t]!]!), `${what}: selected ${py} vs ${ts} (scores ${scores})`);
    if (!scores.some((x, j) => j !== i && tied(x, scores[i]!)))
      assert.equal(i, ts[t], `${what}: selected ${py} vs ${ts}`);
  });
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  return JSON.stringify(sorted(py)) === JSON.stringify(sorted(ts)) ? undefined : py;
}

describe('robust aggregation: python/marshal_robust.py agrees with the TypeScript rules', () => {
  let results: PyResult[] = [];
  before(async () => {
    results = await runPython([...CASES, ...REFUSED, ...TINY]);
  });

  for (const rule of AGGREGATION_RULES) {
    it(`${rule}: random, outliers 1e4..1e12, NaN/Infinity, 1e153 and 1e-160, ties`, () => {
      const mine = CASES.map((c, i) => ({ c, i })).filter((x) => x.c.rule === rule);
      assert.ok(mine.length >= 30, `${mine.length} cases`);
      for (const { c, i } of mine) assertAgree(c, tsAggregate(c), results[i]!);
    });
  }

  it('options: trim, m, tau and iterations, nu, tolerance', () => {
    CASES.forEach((c, i) => {
      if (c.options) assertAgree(c, tsAggregate(c), results[i]!);
    });
  });

  it('a 1e-160 cluster of spread 1e-163: python agrees with the float64 reference', () => {
    TINY.forEach((c, j) => {
      const py = results[CASES.length + REFUSED.length + j]!;
      const ref = referenceAggregate(c.rule, c.rows, { f: c.f });
      const what = `${c.rule} ${c.label}`;
      py.result!.map(decode).forEach((a, k) => {
        const e = ref.result[k]!;
        assert.ok(Math.abs(a - e) <= TOL * (Math.abs(e) + c.spread), `${what}: ${k}: ${a} vs reference ${e}`);
      });
      assert.deepEqual(py.selected ?? undefined, ref.selected, `${what}: selected`);
      if (ref.tau !== undefined) assert.ok(tied(py.tau!, ref.tau), `${what}: tau ${py.tau} vs ${ref.tau}`);
    });
  });

  it('krum picks the lower index among exact ties on both sides', () => {
    const i = CASES.findIndex((c) => c.rule === 'krum' && c.label === 'duplicated inputs');
    assert.deepEqual(results[i]!.selected, [0]);
    assert.deepEqual(tsAggregate(CASES[i]!).selected, [0]);
  });

  it('both refuse what violates a precondition, naming the same condition', () => {
    REFUSED.forEach((c, j) => {
      const py = results[CASES.length + j]!;
      let condition: unknown;
      assert.throws(
        () => tsAggregate(c),
        (err: unknown) => {
          condition = err instanceof MarshalError ? err.details?.condition : undefined;
          return err instanceof MarshalError && err.code === 'E_AGGREGATION_PRECONDITION';
        },
      );
      assert.ok(py.error, `${c.label}: python accepted it`);
      assert.equal(py.condition, condition, `${c.label}: ${py.error}`);
    });
  });
});
