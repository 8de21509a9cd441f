/**
 * ComfyGit's readers of `.orchestrator.pid` (`int(path.read_text())` in the panel, the custom
 * node's `__init__` and `cg orch`) against a real `marshal supervise`: the file is a plain pid, a
 * client deleting it does not open the workspace to a second supervisor, and marshal puts it back.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cleanupAfter, FAST, runCli, startCli, statusJson } from './cli-harness.ts';
import { freePort, makeWorkspace, SYSTEM_PYTHON, waitFor } from './helpers.ts';

const run = promisify(execFile);
const { workspaces } = cleanupAfter();

/** What ComfyGit's Python does with the PID file. */
async function pythonReadsPid(path: string): Promise<number> {
  const { stdout } = await run(
    SYSTEM_PYTHON,
    ['-c', 'import sys; print(int(open(sys.argv[1]).read()))', path],
    {
      timeout: 10_000,
    },
  );
  return Number(stdout.trim());
}

describe('.orchestrator.pid as ComfyGit reads it', () => {
  it('is a plain integer; deleted by a client, it comes back and a second supervisor is still refused', async () => {
    const tw = await makeWorkspace({ envs: { a: {} } });
    workspaces.push(tw);
    const pidFile = join(tw.metadataDir, '.orchestrator.pid');
    const ws = `--workspace=${tw.root}`;
    const sup = startCli(['supervise', ws, '--env=a', ...FAST, '--', '--port', String(await freePort())]);
    await waitFor('running', async () => (await statusJson(tw.root)).state === 'running');
    assert.equal(await pythonReadsPid(pidFile), sup.pid);

    // `cg orch clean` / should_spawn_orchestrator_for_switch() delete it when they misjudge it.
    await unlink(pidFile);
    const second = await runCli([
      'supervise',
      ws,
      '--env=a',
      ...FAST,
      '--',
      '--port',
      String(await freePort()),
    ]);
    assert.equal(second.code, 6, second.stderr);
    assert.match(second.stderr, /E_SUPERVISOR_RUNNING|already/);
    await waitFor('PID file restored', async () => (await readFile(pidFile, 'utf8').catch(() => '')) !== '');
    assert.equal(await pythonReadsPid(pidFile), sup.pid);

    sup.proc.kill('SIGTERM');
    const end = await sup.exited;
    assert.equal(end.code, 130, end.stderr);
    assert.equal(existsSync(pidFile), false);
    assert.equal(existsSync(`${pidFile}.marshal.json`), false);
  });
});
