/**
 * Key routing through the CLI, against the fake server on 127.0.0.1 only: OPENAI_API_KEY is not
 * sent to another endpoint unless --api-key-env (or the config) names it for that endpoint, and a
 * key pasted into apiKeyEnv / --api-key-env is refused without being echoed.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';
import { runMain } from '../helpers/run-main.ts';

const KEY = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123456789';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-safety-key-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('API key routing (ask against the fake server)', { timeout: 30_000 }, () => {
  it('OPENAI_API_KEY stays home unless --api-key-env names it for the endpoint', async () => {
    const server = await startFakeOpenAIServer([{ content: 'one' }, { content: 'two' }]);
    try {
      const env = { NO_COLOR: '1', OPENAI_API_KEY: KEY };
      const a = await runMain(['ask', '--base-url', server.url, 'q'], { cwd: dir, env });
      assert.equal(a.code, 0, a.stderr);
      assert.equal(server.chatRequests()[0]!.headers.authorization, undefined);
      const b = await runMain(['ask', '--base-url', server.url, '--api-key-env', 'OPENAI_API_KEY', 'q'], {
        cwd: dir,
        env,
      });
      assert.equal(b.code, 0, b.stderr);
      assert.equal(server.chatRequests()[1]!.headers.authorization, `Bearer ${KEY}`);
    } finally {
      await server.close();
    }
  });

  it('a key pasted into --api-key-env or provider.apiKeyEnv: exit 2, the key not shown', async () => {
    const server = await startFakeOpenAIServer([]);
    try {
      const flag = await runMain(['ask', '--base-url', server.url, '--api-key-env', KEY, 'q'], {
        cwd: dir,
        env: { NO_COLOR: '1' },
      });
      assert.equal(flag.code, 2);
      assert.match(flag.stderr, /looks like a key/);
      assert.ok(!`${flag.stdout}${flag.stderr}`.includes(KEY));
      const config = join(dir, 'pasted.yaml');
      await writeFile(config, `provider:\n  baseUrl: ${server.url}\n  apiKeyEnv: ${KEY}\n`);
      const file = await runMain(['ask', '-c', config, '--json', 'q'], { cwd: dir, env: { NO_COLOR: '1' } });
      assert.equal(file.code, 2);
      assert.ok(!`${file.stdout}${file.stderr}`.includes(KEY), file.stderr);
      assert.equal(server.requests.length, 0);
    } finally {
      await server.close();
    }
  });
});
