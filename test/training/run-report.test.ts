import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildRunReport, type RankObservation, rankFlags } from '../../src/training/launch/run-report.ts';
import { parseMetricLine } from '../../src/training/launch/telemetry.ts';

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
    ...extra,
  };
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
});
