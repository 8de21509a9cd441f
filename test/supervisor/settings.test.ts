/**
 * One table of settings (settings.ts): the library's validation, the CLI's flags, bounds and help
 * all come from it, so they cannot disagree (before, `--health-interval` refused 5 ms while
 * `startSupervisor` took it, and the defaults were written in three places).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { flaggedSettings, SUPERVISOR_SETTINGS, settingsArgs } from '../../src/supervisor/index.ts';
import { resolveSettings } from '../../src/supervisor/settings.ts';
import { workspaceAt } from '../../src/supervisor/workspace.ts';
import { runMain } from '../helpers/run-main.ts';

const base = { workspace: workspaceAt('/tmp'), env: 'a' };

describe('supervisor settings', () => {
  test('defaults apply, and every value outside its bounds is refused by name', () => {
    const s = resolveSettings(base);
    assert.equal(s.healthIntervalMs, SUPERVISOR_SETTINGS.healthIntervalMs.default);
    assert.equal(s.machine.maxRestarts, SUPERVISOR_SETTINGS.maxRestarts.default);
    for (const [name, spec] of Object.entries(SUPERVISOR_SETTINGS)) {
      for (const bad of [spec.min - 1, spec.max + 1, Number.NaN]) {
        assert.throws(
          () => resolveSettings({ ...base, [name]: bad }),
          (err: Error & { code?: string }) => err.code === 'E_INVALID_INPUT' && err.message.includes(name),
          `${name} = ${bad}`,
        );
      }
      assert.doesNotThrow(() => resolveSettings({ ...base, [name]: spec.min, backoffCapMs: 24 * 3_600_000 }));
    }
  });

  test('the CLI refuses exactly what the library refuses, with the same bounds', async () => {
    for (const { name, spec } of flaggedSettings()) {
      const scale = spec.kind === 'ms' ? 1000 : 1;
      const below = await runMain(['supervise', '--env=a', `--${spec.flag}=${(spec.min - 1) / scale}`]);
      assert.equal(below.code, 2, `${spec.flag} below its minimum`);
      assert.match(below.stderr, new RegExp(`--${spec.flag}\\b`));
      assert.throws(() => resolveSettings({ ...base, [name]: spec.min - 1 }));
      const above = await runMain(['supervise', '--env=a', `--${spec.flag}=${(spec.max + 1) / scale}`]);
      assert.equal(above.code, 2, `${spec.flag} above its maximum`);
    }
  });

  test('help shows each flag with its default from the table; a detached start gets the same flags', async () => {
    const help = await runMain(['supervise', '--help']);
    for (const { spec } of flaggedSettings()) {
      const shown = spec.kind === 'ms' ? spec.default / 1000 : spec.default;
      assert.match(help.stdout, new RegExp(`--${spec.flag}\\b.*${spec.help.slice(0, 12)}.*\\b${shown}\\b`));
    }
    assert.deepEqual(settingsArgs({ healthTimeoutMs: 2500, maxRestarts: 3, stableMs: 10 }), [
      '--health-timeout=2.5',
      '--max-restarts=3',
    ]);
  });
});
