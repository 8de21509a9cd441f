/**
 * The `train` commands derive their options, help and number checks from the training settings
 * table, and show the library's setting names as flags. In-process (runMain): no real process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeBounds, type NumberSetting, TRAINING_SETTINGS } from '../../src/training/index.ts';
import { runMain } from '../helpers/run-main.ts';

const COMMANDS: Record<string, (keyof typeof TRAINING_SETTINGS)[]> = {
  calibrate: ['cluster', 'benchmark', 'durationS', 'repeats', 'benchmarkTimeoutS'],
  plan: [
    'cluster',
    'script',
    'dataset',
    'checkpointDir',
    'calibration',
    'skipCalibration',
    'durationS',
    'out',
    'globalBatchSize',
    'chunkSize',
    'chunkThreshold',
    'consistencyThreshold',
    'minFreeGb',
  ],
  check: ['plan'],
  launch: ['plan', 'dryRun', 'force', 'graceS'],
};

describe('train settings on the command line', () => {
  for (const [command, settings] of Object.entries(COMMANDS)) {
    it(`train ${command} --help shows each setting's flag, help and default from the table`, async () => {
      const r = await runMain(['train', command, '--help']);
      assert.equal(r.code, 0, r.stderr);
      const options = r.stdout.slice(r.stdout.indexOf('Options:'));
      for (const name of settings) {
        const s = TRAINING_SETTINGS[name];
        const line = options
          .split('\n')
          .find((l) => l.trimStart().startsWith(`--${s.flag} `) || l.trim() === `--${s.flag}`);
        assert.ok(line, `${name}: no --${s.flag} line in\n${r.stdout}`);
        assert.ok(line.includes(s.help), `${name}: help text`);
        const shown = 'defaultText' in s ? s.defaultText : 'default' in s ? String(s.default) : undefined;
        if (shown !== undefined)
          assert.ok(line.includes(`(default: ${shown})`), `${name}: default in ${line}`);
      }
    });
  }

  it('a numeric flag out of its bounds exits 2 naming the flag and the bounds from the table', async () => {
    const cases: Array<[string[], keyof typeof TRAINING_SETTINGS, string]> = [
      [['train', 'launch', '--plan', 'p.json'], 'graceS', '-1'],
      [['train', 'calibrate', '--cluster', 'c.yaml'], 'repeats', '0'],
      [['train', 'plan', '--cluster', 'c', '--script', 's', '--dataset', '1'], 'consistencyThreshold', '2'],
    ];
    for (const [args, name, value] of cases) {
      const s = TRAINING_SETTINGS[name] as NumberSetting;
      const r = await runMain([...args, `--${s.flag}=${value}`]);
      assert.equal(r.code, 2, r.stderr);
      assert.ok(r.stderr.includes(`--${s.flag} must be ${describeBounds(s)}, got "${value}"`), r.stderr);
    }
  });

  it('library errors reach the user with the flag instead of the setting name', async () => {
    const r = await runMain(['train', 'plan', '--cluster', 'c.yaml', '--script', 's.py', '--dataset', '0'], {
      cwd: '/',
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^marshal: --dataset: a positive integer number of examples/m);
    const check = await runMain(['train', 'check', '--plan', 'no-such-plan.json'], { cwd: '/' });
    assert.equal(check.code, 2, check.stderr);
    assert.match(check.stderr, /--plan: cannot read "no-such-plan.json"/);
  });
});
