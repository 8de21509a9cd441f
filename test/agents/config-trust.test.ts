/** The trust store behind `marshal trust` (core/trust-store.ts) and the agents' config trust policy. */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  configTrustStorePath,
  listTrustedConfigs,
  loadMarshalConfig,
  trustConfigFile,
} from '../../src/agents/index.ts';

describe('config trust', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'marshal-config-trust-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('the store is under XDG_CONFIG_HOME, else HOME/.config, else nowhere (nothing trusted)', () => {
    assert.equal(configTrustStorePath({ XDG_CONFIG_HOME: '/x', HOME: '/h' }), '/x/marshal/trusted.json');
    assert.equal(configTrustStorePath({ HOME: '/h' }), '/h/.config/marshal/trusted.json');
    assert.equal(configTrustStorePath({ HOME: 'relative' }), undefined);
    assert.equal(configTrustStorePath({}), undefined);
  });

  it('without a config directory a found file is untrusted, and trusting it is an error naming why', async () => {
    const project = join(dir, 'no-home');
    await mkdir(project);
    await writeFile(join(project, 'marshal.yaml'), 'tools:\n  dir: ./t\n');
    const loaded = await loadMarshalConfig({ cwd: project, env: {} });
    assert.equal(loaded.trust, 'untrusted');
    assert.deepEqual(loaded.ignored, ['tools.dir']);
    assert.equal(loaded.config.tools?.dir, undefined);
    await assert.rejects(
      trustConfigFile('marshal.yaml', { cwd: project, env: {} }),
      /neither XDG_CONFIG_HOME nor HOME/,
    );
  });

  it('a corrupt store is E_CONFIG naming the file, not "nothing trusted" silently', async () => {
    const home = join(dir, 'corrupt');
    await mkdir(join(home, 'marshal'), { recursive: true });
    await writeFile(join(home, 'marshal', 'trusted.json'), '{not json');
    await assert.rejects(listTrustedConfigs({ XDG_CONFIG_HOME: home }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'E_CONFIG');
      assert.match(e.message, /trusted\.json is corrupt/);
      return true;
    });
  });

  it('a file that is not a regular file cannot be trusted', async () => {
    const env = { XDG_CONFIG_HOME: join(dir, 'cfg') };
    await assert.rejects(trustConfigFile(dir, { cwd: dir, env }), /is not a regular file \(a directory\)/);
  });
});
