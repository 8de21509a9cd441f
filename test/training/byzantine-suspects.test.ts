import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  aggregationEnv,
  aggregationPrecondition,
  checkAggregation,
} from '../../src/training/aggregation-plan.ts';
import { buildRunReport, type RankObservation } from '../../src/training/launch/run-report.ts';
import {
  byzantineSuspects,
  emptyTally,
  type RejectionTally,
  tallyRejections,
} from '../../src/training/launch/suspects.ts';
import { parseMetricLine } from '../../src/training/launch/telemetry.ts';

/** A tally from metric lines, each naming the ranks rejected at that step. */
function tally(steps: number[][], rule = 'krum', f = 1): RejectionTally {
  const t = emptyTally();
  for (const rejected of steps) tallyRejections(t, { rule, f, rejected });
  return t;
}

function observation(rank: number, t?: RejectionTally): RankObservation {
  return {
    rank,
    node: 'n',
    expectedExamples: 4,
    exitCode: 0,
    signal: null,
    durationMs: 1,
    examplesProcessed: 4,
    metricLines: 4,
    lastTelemetry: null,
    finalParamHash: null,
    stopped: null,
    ...(t ? { tally: t } : {}),
  };
}

describe('Byzantine suspects', () => {
  it('telemetry lines carry the rule, f and the rejected ranks', () => {
    const m = parseMetricLine(
      'MARSHAL_METRIC {"rank":0,"step":3,"examples":4,"loss":1,"grad_norm":2,"aggregation":"krum","byzantine_f":1,"rejected":[1,3,3]}',
    );
    assert.deepEqual(m?.robust, { rule: 'krum', f: 1, rejected: [1, 3] });
    const plain = parseMetricLine('MARSHAL_METRIC {"rank":0,"step":3,"examples":4,"loss":1,"grad_norm":2}');
    assert.equal(plain?.robust, undefined);
    const bad = parseMetricLine(
      'MARSHAL_METRIC {"step":3,"examples":4,"loss":1,"grad_norm":2,"rejected":[-1]}',
    );
    assert.equal(bad?.robust, undefined);
  });

  it('names the rank rejected most often, at most f of them', () => {
    // Krum over 5 ranks keeps one: rank 3 is rejected at every step, the others at most steps.
    const steps = [
      [1, 2, 3, 4],
      [0, 2, 3, 4],
      [0, 1, 3, 4],
      [0, 1, 2, 3],
    ];
    const ranks = [0, 1, 2, 3, 4].map((r) => observation(r, tally(steps)));
    const s = byzantineSuspects(ranks)!;
    assert.deepEqual(s.rejections, { 0: 3, 1: 3, 2: 3, 3: 4, 4: 3 });
    assert.deepEqual(s.suspects, [3]);
    assert.equal(s.steps, 4);
    assert.equal(s.rule, 'krum');
  });

  it('a lying minority of reporters cannot frame an honest rank nor hide the Byzantine one', () => {
    const honest = tally([[3], [3], [3]], 'median');
    const liar = tally([[0], [0], [0]], 'median');
    const ranks = [
      observation(0, honest),
      observation(1, honest),
      observation(2, honest),
      observation(3, liar),
    ];
    const s = byzantineSuspects(ranks)!;
    assert.equal(s.rejections['0'], 0);
    assert.equal(s.rejections['3'], 3);
    assert.deepEqual(s.suspects, [3]);
  });

  it('nothing rejected (mean): no suspect; no rank reporting: no section', () => {
    const ranks = [0, 1, 2].map((r) => observation(r, tally([[], []], 'mean', 0)));
    assert.deepEqual(byzantineSuspects(ranks)!.suspects, []);
    assert.equal(byzantineSuspects([observation(0), observation(1)]), null);
    const report = buildRunReport({
      plan: 'p',
      planSha256: 'x',
      launcher: 'direct',
      startedAt: 't',
      finishedAt: 't',
      forced: false,
      ranks: [observation(0), observation(1)],
    });
    assert.equal(report.byzantine_suspects, undefined);
  });

  it('the run report names the suspects', () => {
    const t = tally([[2], [2], [1, 2]], 'median');
    const report = buildRunReport({
      plan: 'p',
      planSha256: 'x',
      launcher: 'direct',
      startedAt: 't',
      finishedAt: 't',
      forced: false,
      ranks: [0, 1, 2].map((r) => observation(r, t)),
    });
    assert.deepEqual(report.byzantine_suspects?.suspects, [2]);
    assert.deepEqual(report.byzantine_suspects?.rejections, { 0: 0, 1: 1, 2: 3 });
  });
});

describe('the plan aggregation settings', () => {
  it('defaults to mean with f = 0, refuses an unknown rule or a bad f naming the setting', () => {
    assert.deepEqual(checkAggregation(undefined, undefined), { rule: 'mean', f: 0 });
    assert.throws(() => checkAggregation('krum2', 1), /aggregation: one of mean, median/);
    assert.throws(() => checkAggregation('krum', -1), /byzantineF: an integer >= 0, got -1/);
    assert.throws(() => checkAggregation('krum', 1.5), /byzantineF/);
  });

  it("checks the rule's precondition against the world size with the rule itself", () => {
    assert.equal(aggregationPrecondition({ rule: 'krum', f: 1 }, 5), null);
    assert.match(aggregationPrecondition({ rule: 'krum', f: 1 }, 4)!, /n >= 2f \+ 3/);
    assert.match(aggregationPrecondition({ rule: 'median', f: 2 }, 4)!, /n >= 2f \+ 1/);
    assert.equal(aggregationPrecondition({ rule: 'mean', f: 3 }, 4), null);
    assert.match(aggregationPrecondition({ rule: 'trimmed-mean', f: 2 }, 4)!, /n >= 2f \+ 1/);
  });

  it('passes the rule and f to ranks as MARSHAL_AGGREGATION and MARSHAL_BYZANTINE_F', () => {
    assert.deepEqual(aggregationEnv({ rule: 'geometric-median', f: 2 }), {
      MARSHAL_AGGREGATION: 'geometric-median',
      MARSHAL_BYZANTINE_F: '2',
    });
  });
});
