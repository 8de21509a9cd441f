/**
 * The training workflows as a library user calls them (no CLI): they return data, and their
 * errors name settings (`plan`, `chunkSize`, `` `force` ``), never CLI flags.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import {
  buildPlan,
  launchPlan,
  planTraining,
  readPlanFile,
  type Setting,
  TRAINING_SETTINGS,
} from '../../src/training/index.ts';
import { facts, HASH_A, HASH_B, okProbe, TEST_SEAL_KEY, useTestPlanKey } from './plan-facts.ts';

let dir: string;
let env: Record<string, string>;

const failsWith = (code: string, check: (e: MarshalError) => void) => (e: unknown) => {
  assert.ok(e instanceof MarshalError, String(e));
  assert.equal(e.code, code, e.message);
  assert.doesNotMatch(`${e.message} ${e.hint ?? ''}`, /--/, 'a library error names settings, not flags');
  check(e);
  return true;
};

describe('training workflows (library)', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-workflows-'));
    env = useTestPlanKey(dir);
    mkdirSync(join(dir, 'run'));
    writeFileSync(
      join(dir, 'run/plan.json'),
      JSON.stringify(buildPlan(facts(), { sealKey: TEST_SEAL_KEY, planDir: join(dir, 'run') })),
    );
    const blocked = buildPlan(facts({ probes: [okProbe('a', HASH_A), okProbe('b', HASH_B)] }), {
      sealKey: TEST_SEAL_KEY,
      planDir: join(dir, 'run'),
    });
    writeFileSync(join(dir, 'run/blocked.json'), JSON.stringify(blocked));
    execFileSync('mkfifo', [join(dir, 'run/fifo.json')]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('readPlanFile names the plan setting when the file is missing', async () => {
    await assert.rejects(
      readPlanFile('run/none.json', { cwd: dir, env }),
      failsWith('E_PLAN_INVALID', (e) => {
        assert.match(e.message, /^plan: cannot read "run\/none.json"/);
        assert.equal(e.details?.field, 'plan');
      }),
    );
  });

  it('readPlanFile refuses a FIFO instead of blocking on it', { timeout: 20_000 }, async () => {
    await assert.rejects(
      readPlanFile('run/fifo.json', { cwd: dir, env }),
      failsWith('E_PLAN_INVALID', (e) => assert.match(e.message, /not a regular file/)),
    );
  });

  it('readPlanFile returns the verified plan and its absolute path', async () => {
    const { plan, path } = await readPlanFile('run/plan.json', { cwd: dir, env });
    assert.equal(path, join(dir, 'run/plan.json'));
    assert.equal(plan.schemaVersion, 2);
  });

  it('launchPlan refuses a blocked plan, naming the force setting', async () => {
    await assert.rejects(
      launchPlan({ plan: 'run/blocked.json', cwd: dir, env, dryRun: true }),
      failsWith('E_PREFLIGHT_FAILED', (e) => assert.match(e.hint ?? '', /`force`/)),
    );
  });

  it('launchPlan with dryRun describes every process as data and starts nothing', async () => {
    const outcome = await launchPlan({ plan: 'run/plan.json', cwd: dir, env, dryRun: true });
    assert.equal(outcome.kind, 'dry-run');
    if (outcome.kind !== 'dry-run') return;
    assert.deepEqual(
      outcome.processes.map((p) => [p.label, p.node, p.argv]),
      [
        ['rank 0', 'a', ['/usr/bin/python3', '-m', 'marshal_train', 'train.py']],
        ['rank 1', 'b', ['/usr/bin/python3', '-m', 'marshal_train', 'train.py']],
      ],
    );
    assert.equal(outcome.processes[1]!.env.MARSHAL_PLAN, join(dir, 'run/plan.json'));
  });

  it('launchPlan checks its grace setting against the settings bounds', async () => {
    await assert.rejects(
      launchPlan({ plan: 'run/plan.json', cwd: dir, env, dryRun: true, graceS: -1 }),
      failsWith('E_INVALID_INPUT', (e) =>
        assert.match(e.message, /^graceS: a number from 0 to 86400, got -1/),
      ),
    );
  });

  it('planTraining checks its tuning settings before any work and names them', async () => {
    await assert.rejects(
      planTraining({
        cluster: 'missing.yaml',
        script: 'train.py',
        dataset: '10',
        calibration: { mode: 'skip' },
        chunkSize: 0,
        cwd: dir,
        env: {},
      }),
      failsWith('E_INVALID_INPUT', (e) => assert.match(e.message, /^chunkSize: an integer >= 1, got 0/)),
    );
    await assert.rejects(
      planTraining({
        cluster: 'missing.yaml',
        script: 't.py',
        dataset: '0',
        calibration: { mode: 'skip' },
        cwd: dir,
        env: {},
      }),
      failsWith('E_INVALID_INPUT', (e) => assert.match(e.message, /^dataset: /)),
    );
  });

  it('every numeric default lies within its own bounds', () => {
    for (const [name, s] of Object.entries(TRAINING_SETTINGS) as [string, Setting][]) {
      if (s.kind !== 'number' || s.default === undefined) continue;
      assert.ok(s.min === undefined || s.default >= s.min, name);
      assert.ok(s.max === undefined || s.default <= s.max, name);
      assert.ok(!s.integer || Number.isInteger(s.default), name);
    }
  });
});
