/**
 * The training library's bounded waits end under real garbage-collection pressure (nodejs/node#57736:
 * on Node 20 an `AbortSignal.timeout` held only through `AbortSignal.any` can be collected and never
 * fire). A child `node --expose-gc` process imports the library through tsx, churns allocations with
 * `gc()` calls all along, and runs: a launch whose rank hangs after the other finished (the grace
 * period must end it), a launch whose rank ignores SIGTERM after its peer failed (the stop grace
 * must end it), a benchmark that never finishes and a node probe that never answers.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const ROOT = new URL('../../', import.meta.url).pathname;
const FIXTURE = join(ROOT, 'test/fixtures/training/gc-bounds.ts');

describe('training bounds under GC pressure', () => {
  it('grace periods, stop graces, benchmark and probe bounds all fire', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'marshal-gc-'));
    try {
      // The execFile timeout only keeps a broken run from hanging the suite; it is far above the bounds.
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [
          '--expose-gc',
          '--import',
          'tsx',
          FIXTURE,
          dir,
          'launch-grace',
          'launch-peer-failed',
          'calibration-bound',
          'probe-bound',
        ],
        { cwd: ROOT, timeout: 90_000, killSignal: 'SIGKILL' },
      );
      const results = Object.fromEntries(
        stdout
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { case: string })
          .map((r) => [r.case, r]),
      );
      assert.deepEqual(results['launch-grace'], {
        case: 'launch-grace',
        stopped: [null, 'teardown_hang'],
        exit: [0, null],
      });
      assert.deepEqual(results['launch-peer-failed'], {
        case: 'launch-peer-failed',
        stopped: [null, 'peer_failed'],
        exit: [3, null],
        signal: [null, 'SIGKILL'],
      });
      assert.deepEqual(results['calibration-bound'], {
        case: 'calibration-bound',
        status: 'failed',
        reason: 'benchmark timed out after 400 ms',
      });
      assert.deepEqual(results['probe-bound'], {
        case: 'probe-bound',
        status: 'failed',
        reason: 'health probe timed out',
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
