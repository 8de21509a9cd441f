import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRunReport, type RankObservation, rankFlags } from '../../src/training/launch/run-report.ts';
import { parseMetricLine, readMetricLine } from '../../src/training/launch/telemetry.ts';

function obs(
  rank: number,
  loss: number,
  grad: number,
  hash: string | null = 'h',
  extra: Partial<RankObservation> = {},
): RankObservation {
  return {
    rank,
    node: `n${rank}`,
    expectedExamples: 10,
    exitCode: 0,
    signal: null,
    durationMs: 5,
    examplesProcessed: 10,
    metricLines: 3,
    lastTelemetry: { rank, step: 2, examples: 4, loss, grad_norm: grad, param_hash: hash },
    finalParamHash: hash,
    stopped: null,
    window: [{ step: 2, loss, grad_norm: grad }],
    ...extra,
  };
}

const report = (ranks: RankObservation[]) =>
  buildRunReport({
    plan: 'p',
    planSha256: 'x',
    launcher: 'direct',
    startedAt: 'a',
    finishedAt: 'b',
    forced: false,
    ranks,
  });

/** A rank's window over steps [0, last]: the global grad norm 1.5 - 0.15 s (same on every rank after the all-reduce) plus `noise`. */
function trained(rank: number, last: number, noise: number, scale = 1): RankObservation {
  const window = Array.from({ length: last + 1 }, (_, s) => ({
    step: s,
    loss: (0.5 - 0.02 * s) * scale + noise,
    grad_norm: (1.5 - 0.15 * s) * scale + noise,
  }));
  const lastStep = window.at(-1)!;
  return obs(rank, lastStep.loss, lastStep.grad_norm, 'h', {
    window,
    lastTelemetry: { rank, examples: 2, ...lastStep, param_hash: 'h' },
  });
}

describe('telemetry lines', () => {
  it('parses metric lines, with launcher prefixes and non-finite values', () => {
    assert.deepEqual(
      parseMetricLine(
        'MARSHAL_METRIC {"rank":1,"step":3,"examples":8,"loss":0.5,"grad_norm":1.5,"param_hash":null}',
      ),
      {
        rank: 1,
        step: 3,
        examples: 8,
        loss: 0.5,
        grad_norm: 1.5,
        param_hash: null,
      },
    );
    const nan = parseMetricLine(
      '[default0]:MARSHAL_METRIC {"step":0,"examples":1,"loss":NaN,"grad_norm":"Infinity","param_hash":"x"}',
    );
    assert.ok(
      nan && Number.isNaN(nan.loss) && nan.grad_norm === Number.POSITIVE_INFINITY && nan.rank === null,
    );
    assert.equal(parseMetricLine('loss 0.5'), null);
    assert.equal(parseMetricLine('MARSHAL_METRIC {not json'), null);
    assert.equal(parseMetricLine('MARSHAL_METRIC {"step":0,"examples":-1,"loss":0,"grad_norm":0}'), null);
  });
});

describe('run report flags', () => {
  it('flags non-finite and robust-outlier loss and grad norm', () => {
    const flags = rankFlags([
      obs(0, 0.5, 1),
      obs(1, 0.51, 1.1),
      obs(2, Number.NaN, 0.9),
      obs(3, 0.49, 50),
      obs(4, 0.5, 1.05),
    ]);
    assert.deepEqual(flags[2], ['loss_non_finite']);
    assert.deepEqual(flags[3], ['grad_norm_outlier']);
    assert.deepEqual(flags[0], []);
  });

  it('flags a final param_hash that disagrees with the others', () => {
    const flags = rankFlags([obs(0, 1, 1, 'h1'), obs(1, 1, 1, 'h1'), obs(2, 1, 1, 'h2')]);
    assert.deepEqual(flags, [[], [], ['param_hash_mismatch']]);
  });

  it('flags stops, failures, missing telemetry and example mismatches; status follows exits', () => {
    const ranks = [
      obs(0, 1, 1, 'h', { stopped: 'peer_failed', exitCode: null, signal: 'SIGTERM' }),
      obs(1, 1, 1, 'h', { exitCode: 3, metricLines: 0, lastTelemetry: null, examplesProcessed: 0 }),
    ];
    const report = buildRunReport({
      plan: 'p',
      planSha256: 'x',
      launcher: 'direct',
      startedAt: 'a',
      finishedAt: 'b',
      forced: false,
      ranks,
    });
    assert.equal(report.status, 'failed');
    assert.deepEqual(report.ranks[0]!.flags, ['stopped_peer_failed']);
    assert.deepEqual(report.ranks[1]!.flags, ['failed', 'no_telemetry', 'examples_mismatch']);
    const hung = buildRunReport({
      plan: 'p',
      planSha256: 'x',
      launcher: 'direct',
      startedAt: 'a',
      finishedAt: 'b',
      forced: false,
      ranks: [
        obs(0, 1, 1),
        obs(1, 1, 1, 'h', { stopped: 'teardown_hang', exitCode: null, signal: 'SIGTERM' }),
      ],
    });
    assert.equal(hung.status, 'succeeded');
  });

  it('keeps non-finite telemetry as strings so the report is valid JSON', () => {
    const report = buildRunReport({
      plan: 'p',
      planSha256: 'x',
      launcher: 'direct',
      startedAt: 'a',
      finishedAt: 'b',
      forced: false,
      ranks: [obs(0, Number.NaN, 1)],
    });
    assert.equal(JSON.parse(JSON.stringify(report)).ranks[0].lastTelemetry.loss, 'NaN');
  });

  it('compares ranks at the same step numbers: a healthy 3-rank run whose ranks finish at different steps is not an outlier', () => {
    // Ranks 0 and 1 train to step 9, rank 2 (a smaller shard) to step 7: their last steps differ,
    // so their last values do (0.15, 0.16, 0.45), but at every common step they agree.
    const ranks = [trained(0, 9, 0), trained(1, 9, 0.01), trained(2, 7, 0.005)];
    assert.deepEqual(rankFlags(ranks), [[], [], []]);
    assert.equal(report(ranks).status, 'succeeded');
  });

  it('a healthy run whose ranks draw noisy batches (per-step values scattered by half and more) flags nothing', () => {
    // Each rank trains on other data: per step its loss and grad norm are the shared trend times
    // a log-normal factor (sigma 0.5: a step at 0.6x or 1.6x the trend is ordinary). Judged step
    // by step, one of three ranks lands past the others at most steps in many such runs.
    let seed = 0x1234567;
    const uniform = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return ((seed >>> 0) + 0.5) / 2 ** 32;
    };
    const gauss = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    const noisy = (rank: number, scale = 1): RankObservation => {
      const window = Array.from({ length: 32 }, (_, s) => ({
        step: s,
        loss: scale * (2 - 0.02 * s) * Math.exp(0.5 * gauss()),
        grad_norm: scale * (3 - 0.05 * s) * Math.exp(0.5 * gauss()),
      }));
      const last = window.at(-1)!;
      return obs(rank, last.loss, last.grad_norm, 'h', {
        window,
        lastTelemetry: { rank, examples: 10, ...last, param_hash: 'h' },
      });
    };
    for (let run = 0; run < 200; run++) {
      const ranks = [noisy(0), noisy(1), noisy(2)];
      assert.deepEqual(rankFlags(ranks), [[], [], []], `run ${run}`);
    }
    // The same noise does not hide a rank that stays apart: 4x the others' level at every step.
    let caught = 0;
    for (let run = 0; run < 50; run++) {
      const flags = rankFlags([noisy(0), noisy(1), noisy(2), noisy(3, 4)]);
      if (flags[3]!.includes('loss_outlier') && flags[3]!.includes('grad_norm_outlier')) caught++;
      assert.deepEqual(flags.slice(0, 3), [[], [], []], `run ${run}`);
    }
    assert.equal(caught, 50);
  });

  it('flags a rank whose values stay far from the others over the window', () => {
    const ranks = [trained(0, 9, 0), trained(1, 9, 0.01), trained(2, 9, 0.005), trained(3, 9, 0, 40)];
    const flags = rankFlags(ranks);
    assert.deepEqual(flags[3], ['loss_outlier', 'grad_norm_outlier']);
    assert.deepEqual(flags.slice(0, 3), [[], [], []]);
  });
});

describe('run status', () => {
  it('is degraded, with reasons, when ranks exit 0 but process other than the planned examples', () => {
    const r = report([obs(0, 0.5, 1), obs(1, 0.5, 1, 'h', { examplesProcessed: 4 })]);
    assert.equal(r.status, 'degraded');
    assert.deepEqual(r.reasons, ['rank 1 processed 4 examples, the plan gave it 10']);
  });

  it('is degraded when a loss was non-finite at any step, even if the last one is finite', () => {
    const r = report([obs(0, 0.5, 1), obs(1, 0.5, 1, 'h', { nonFinite: { loss: 2, grad_norm: 0 } })]);
    assert.equal(r.status, 'degraded');
    assert.match(r.reasons.join('\n'), /rank 1 reported a non-finite loss \(2 step/);
    assert.deepEqual(r.ranks[1]!.flags, ['loss_non_finite']);
  });

  it('is degraded when telemetry was rejected, and failed (not degraded) when a rank failed', () => {
    const r = report([obs(0, 0.5, 1, 'h', { rejected: { rank_mismatch: 1, invalid: 0 } }), obs(1, 0.5, 1)]);
    assert.equal(r.status, 'degraded');
    assert.deepEqual(r.ranks[0]!.flags, ['telemetry_rank_mismatch']);
    const failed = report([obs(0, 0.5, 1, 'h', { exitCode: 1, examplesProcessed: 3 }), obs(1, 0.5, 1)]);
    assert.equal(failed.status, 'failed');
    assert.deepEqual(failed.reasons, ['rank 0 exited with 1']);
  });

  it('names why the first rejected metric line was rejected', () => {
    const first = 'examples 1e+300 is not a non-negative integer';
    const r = report([
      obs(0, 0.5, 1, 'h', { rejected: { rank_mismatch: 0, invalid: 2, first } }),
      obs(1, 0.5, 1),
    ]);
    assert.equal(r.status, 'degraded');
    assert.ok(r.reasons.includes(`rank 0: the first rejected metric line: ${first}`), r.reasons.join('\n'));
  });

  it('succeeds with no reasons when everything checks out', () => {
    const r = report([obs(0, 0.5, 1), obs(1, 0.51, 1.01)]);
    assert.equal(r.status, 'succeeded');
    assert.deepEqual(r.reasons, []);
  });
});

describe('telemetry checks', () => {
  it('refuses examples or steps that are not non-negative safe integers (1e300 is not summed)', () => {
    const line = (examples: string, step = '0') =>
      readMetricLine(
        `MARSHAL_METRIC {"rank":0,"step":${step},"examples":${examples},"loss":0.1,"grad_norm":1}`,
      );
    assert.equal(line('1e300')?.kind, 'invalid');
    assert.equal(line('2.5')?.kind, 'invalid');
    assert.equal(line('3', '1.5')?.kind, 'invalid');
    assert.equal(line('3')?.kind, 'metric');
    assert.equal(readMetricLine('MARSHAL_METRIC {oops')?.kind, 'invalid');
    assert.equal(readMetricLine('plain output'), null);
  });
});
