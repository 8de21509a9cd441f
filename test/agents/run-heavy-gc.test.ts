/**
 * runHeavy's deadlines under garbage collection (issue 8 §1), as a library: a child process with
 * `--expose-gc` and a churn + gc() loop runs 4 agents of which 2 hang until aborted. Each agent's
 * deadline and the run's deadline must fire. On Node 20 a deadline made of AbortSignal.timeout
 * inside AbortSignal.any is collected and never fires; the child then runs until the safety kill.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type NodeRun, runNode } from '../helpers/run-cli.ts';

const TSX = import.meta.resolve('tsx');
const CHURN = fileURLToPath(new URL('../fixtures/agents/gc-churn.mjs', import.meta.url));
const DRIVER = fileURLToPath(new URL('../fixtures/agents/heavy-hang-driver.ts', import.meta.url));
const SRC = fileURLToPath(new URL('../../src', import.meta.url));
/** Safety bound only, far past the 1.5 s deadlines: reaching it means a deadline never fired. */
const KILL_AFTER_MS = 30_000;

function run(which: 'agent' | 'run'): Promise<NodeRun> {
  return runNode(['--expose-gc', '--import', TSX, '--import', CHURN, DRIVER, SRC, which], {
    killAfterMs: KILL_AFTER_MS,
  });
}

describe('runHeavy deadlines under GC pressure', () => {
  for (const which of ['agent', 'run'] as const) {
    it(`the ${which} deadline fires and the finished agents are kept`, async () => {
      const r = await run(which);
      assert.equal(r.killed, false, `the ${which} deadline never fired; stderr:\n${r.stderr}`);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), ['ok', 'ok', 'timeout', 'timeout']);
    });
  }
});
