/** The plan-sealing key in the user's config directory: made once, private, refused when unsafe. */
import assert from 'node:assert/strict';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { loadPlanKey, planKeyPath } from '../../src/training/plan-key.ts';

let dir: string;
const failsWith = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof MarshalError, String(e));
  assert.equal(e.code, 'E_PLAN_KEY');
  assert.equal(e.exitCode, 2);
  assert.match(e.message, pattern);
  return true;
};

describe('plan key', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-plan-key-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('lives in $XDG_CONFIG_HOME/marshal, else $HOME/.config/marshal', () => {
    assert.equal(planKeyPath({ XDG_CONFIG_HOME: '/x', HOME: '/h' }), '/x/marshal/plan-seal.key');
    assert.equal(planKeyPath({ HOME: '/h' }), '/h/.config/marshal/plan-seal.key');
    assert.equal(planKeyPath({ HOME: 'relative' }), undefined);
  });

  it('is created once, 0600, in a 0700 directory; concurrent first uses agree on one key', async () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'race') };
    const keys = await Promise.all(Array.from({ length: 8 }, () => loadPlanKey(env, { create: true })));
    assert.equal(new Set(keys.map((k) => k.key.toString('hex'))).size, 1);
    const file = join(dir, 'race/marshal/plan-seal.key');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, 'race/marshal')).mode & 0o777, 0o700);
    // No temp file is left behind.
    assert.deepEqual(readdirSync(join(dir, 'race/marshal')), ['plan-seal.key']);
    const again = await loadPlanKey(env, { create: false });
    assert.equal(again.key.toString('hex'), keys[0]!.key.toString('hex'));
    assert.match(again.id, /^[0-9a-f]{16}$/);
  });

  it('is not created by a reader (launch, check): a missing key is an error naming the file', async () => {
    await assert.rejects(
      loadPlanKey({ XDG_CONFIG_HOME: join(dir, 'none') }, { create: false }),
      failsWith(/plan-seal\.key does not exist/),
    );
    await assert.rejects(loadPlanKey({}, { create: true }), failsWith(/no user config directory/));
  });

  it('refuses a key others can read, a symlink, and a malformed file, never printing the key', async () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'unsafe') };
    const { key } = await loadPlanKey(env, { create: true });
    const file = join(dir, 'unsafe/marshal/plan-seal.key');
    chmodSync(file, 0o644);
    await assert.rejects(loadPlanKey(env, { create: false }), (e: unknown) => {
      failsWith(/readable or writable by others \(mode 644\)/)(e);
      assert.ok(
        !JSON.stringify({ m: (e as Error).message, h: (e as MarshalError).hint }).includes(
          key.toString('hex'),
        ),
      );
      return true;
    });
    const linked = join(dir, 'linked/marshal');
    mkdirSync(linked, { recursive: true });
    symlinkSync(file, join(linked, 'plan-seal.key'));
    await assert.rejects(
      loadPlanKey({ XDG_CONFIG_HOME: join(dir, 'linked') }, { create: false }),
      failsWith(/symlink/),
    );
    const bad = join(dir, 'bad/marshal');
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'plan-seal.key'), 'not a key\n', { mode: 0o600 });
    await assert.rejects(
      loadPlanKey({ XDG_CONFIG_HOME: join(dir, 'bad') }, { create: true }),
      failsWith(/64 hex/),
    );
  });
});
