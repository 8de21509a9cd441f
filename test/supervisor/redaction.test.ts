/**
 * Secrets printed by the supervised server (issue 14 item 1, CWE-532): a line such as
 * `Authorization: Bearer sk-...` is redacted, and its control characters neutralised, everywhere
 * the supervisor writes child output: the foreground `marshal supervise` stderr, a detached
 * supervisor's `.metadata/orchestrator.log`, the JSONL log, and `marshal logs`.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cleanupAfter, FAST, runCli, signal, startSupervise } from './cli-harness.ts';
import { freePort, makeWorkspace, type TestWorkspace, waitFor } from './helpers.ts';

const { workspaces } = cleanupAfter();

const TOKEN = 'sk-proj-abcdefghijklmnopqrstuvwxyz0123';
/** What the server prints at start: a bearer header, a key=value secret, and a terminal escape. */
const LINE = `request headers: Authorization: Bearer ${TOKEN} api_key=hunter2hunter2 \u001b[31mred`;

async function workspace(): Promise<TestWorkspace> {
  const w = await makeWorkspace({ envs: { a: { fixtureEnv: { FIXTURE_PRINT: LINE } } } });
  workspaces.push(w);
  return w;
}

function assertClean(text: string, where: string): void {
  assert.match(text, /request headers: Authorization: Bearer \[REDACTED\]/, `${where}: the line is kept`);
  assert.doesNotMatch(text, /sk-proj-|hunter2/, `${where}: a secret leaked`);
  assert.doesNotMatch(text, /\u001b/, `${where}: a raw escape reached it`);
}

describe('child output is redacted', () => {
  it('in the foreground: supervise stderr and the JSONL log', async () => {
    const tw = await workspace();
    const port = await freePort();
    const sup = startSupervise(tw.root, 'a', port);
    await waitFor('the server line', () => sup.err().includes('request headers'), { timeoutMs: 30_000 });
    await waitFor('the server up', () => sup.err().includes('is ready'), { timeoutMs: 30_000 });
    signal(sup.pid, 'SIGTERM');
    const done = await sup.exited;
    assertClean(done.stderr, 'supervise stderr');
    assertClean(
      await readFile(join(tw.metadataDir, 'supervisor-switch.log'), 'utf8'),
      'supervisor-switch.log',
    );
  });

  it('detached: orchestrator.log, and marshal logs shows the redacted form', async () => {
    const tw = await workspace();
    const port = await freePort();
    const start = await runCli([
      'supervise',
      '--detach',
      `--workspace=${tw.root}`,
      '--env=a',
      ...FAST,
      '--',
      '--port',
      String(port),
    ]);
    assert.equal(start.code, 0, start.stderr);
    const orchestratorLog = join(tw.metadataDir, 'orchestrator.log');
    await waitFor(
      'the server ready in orchestrator.log',
      async () => (await readFile(orchestratorLog, 'utf8').catch(() => '')).includes('is ready'),
      { timeoutMs: 30_000 },
    );
    assertClean(await readFile(orchestratorLog, 'utf8'), 'orchestrator.log');
    const logs = await runCli(['logs', `--workspace=${tw.root}`, '-n', '200']);
    assert.equal(logs.code, 0, logs.stderr);
    assertClean(logs.stdout, 'marshal logs');
    const raw = await runCli(['logs', '--raw', `--workspace=${tw.root}`, '-n', '200']);
    assert.doesNotMatch(raw.stdout, /sk-proj-|hunter2/, 'marshal logs --raw: a secret leaked');
    const stop = await runCli(['stop', `--workspace=${tw.root}`]);
    assert.equal(stop.code, 0, stop.stderr);
  });
});
