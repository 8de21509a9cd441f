/**
 * `train launch` in-process (runMain): the refusal paths and the `--dry-run` rendering. The real
 * 2-rank launches live in test/training/train-cli.test.ts.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildPlan } from '../../src/training/index.ts';
import { runMain } from '../helpers/run-main.ts';
import { facts, HASH_A, HASH_B, okProbe, TEST_SEAL_KEY, useTestPlanKey } from '../training/plan-facts.ts';

const HOSTILE_SCRIPT = "it's $HOME/a b.py";
/** The plan's directory: its path reaches every rank as MARSHAL_PLAN, an env value to quote. */
const HOSTILE_DIR = "run $HOME it's";

let dir: string;
let env: Record<string, string>;

describe('marshal train launch (in-process)', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-launch-cli-'));
    env = useTestPlanKey(dir);
    mkdirSync(join(dir, 'run'));
    mkdirSync(join(dir, HOSTILE_DIR));
    const plan = buildPlan(facts({ script: HOSTILE_SCRIPT, checkpoint: null }), {
      sealKey: TEST_SEAL_KEY,
      planDir: join(dir, HOSTILE_DIR),
    });
    writeFileSync(join(dir, HOSTILE_DIR, 'plan.json'), JSON.stringify(plan));
    const blocked = buildPlan(facts({ probes: [okProbe('a', HASH_A), okProbe('b', HASH_B)] }), {
      sealKey: TEST_SEAL_KEY,
      planDir: join(dir, 'run'),
    });
    writeFileSync(join(dir, 'run/blocked.json'), JSON.stringify(blocked));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('--dry-run prints a POSIX-quoted command line that a shell turns back into the exact argv', async () => {
    const r = await runMain(['train', 'launch', '--plan', `${HOSTILE_DIR}/plan.json`, '--dry-run'], {
      cwd: dir,
      env,
    });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    const header = lines.indexOf('# rank 0 on a (cwd /c/a)');
    assert.notEqual(header, -1, r.stdout);
    // The block is the header, the env lines, then the command line.
    const block = lines.slice(
      header + 1,
      lines.findIndex((l, i) => i > header && l.startsWith('#')),
    );
    const words = (line: string): string[] => {
      const out = spawnSync('sh', ['-c', `printf '%s\\0' ${line}`], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH, HOME: '/expanded-home' },
      });
      assert.equal(out.status, 0, out.stderr);
      return out.stdout.split('\0').slice(0, -1);
    };
    assert.deepEqual(words(block.at(-1)!.trim()), [
      '/usr/bin/python3',
      '-m',
      'marshal_train',
      HOSTILE_SCRIPT,
    ]);
    // Env values are quoted the same way: the plan path arrives as it is.
    const planEnv = block.find((l) => l.trim().startsWith('MARSHAL_PLAN='))!;
    assert.deepEqual(words(planEnv.trim()), [`MARSHAL_PLAN=${join(dir, HOSTILE_DIR, 'plan.json')}`]);
    assert.equal(
      block.find((l) => l.trim().startsWith('MARSHAL_SHARD_END='))?.trim(),
      'MARSHAL_SHARD_END=80000',
    );
  });

  it('refuses a plan whose pre-flight failed with exit 5, naming the --force flag', async () => {
    const r = await runMain(['train', 'launch', '--plan', 'run/blocked.json', '--dry-run'], {
      cwd: dir,
      env,
    });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /--force/);
  });

  it('names the --plan flag when the plan file is missing', async () => {
    const r = await runMain(['train', 'launch', '--plan', 'run/none.json'], { cwd: dir, env });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--plan: cannot read "run\/none.json"/);
  });
});
