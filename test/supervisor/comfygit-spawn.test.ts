/**
 * The panel's lazy spawn starting marshal: `spawn_orchestrator()` in comfygit-manager's
 * server/api/v2/environments.py runs `[<venv python>, <manager>/server/orchestrator.py,
 * --workspace, W, --environment, E, --args, *comfyui_args]` with stdin DEVNULL, stdout and stderr
 * appended to .metadata/orchestrator.log, cwd W, in a new session; orchestrator.py's argparse takes
 * `--workspace`, `--environment` and `--args` (nargs=REMAINDER). Run with the built CLI.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, copyFile, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BIN, cliEnv, runCli, signal, startCli, stopLeftovers } from './cli-harness.ts';
import { fixtureInfo, freePort, makeWorkspace, pidExists, SYSTEM_PYTHON, waitFor } from './helpers.ts';

const SHIM = fileURLToPath(new URL('../../python/comfygit_orchestrator_shim.py', import.meta.url));

const roots: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const root of roots) await stopLeftovers(root);
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

async function workspace() {
  const ws = await makeWorkspace({ envs: { a: {} } });
  roots.push(ws.root);
  cleanups.push(() => ws.cleanup());
  return ws;
}

const plainPid = async (metadataDir: string) =>
  Number((await readFile(join(metadataDir, '.orchestrator.pid'), 'utf8').catch(() => '')).trim()) || null;

describe("ComfyGit's orchestrator.py argv", () => {
  test('supervise --workspace W --environment E --args <ComfyUI args> starts E with those args', async () => {
    const ws = await workspace();
    const port = await freePort();
    const p = startCli([
      'supervise',
      '--workspace',
      ws.root,
      '--environment',
      'a',
      '--args',
      '--port',
      String(port),
    ]);
    const info = await waitFor('the child answers', () => fixtureInfo(port), { timeoutMs: 30_000 });
    assert.equal(info.env, 'a');
    assert.deepEqual(info.argv, ['--cpu', '--port', String(port)]);
    signal(p.pid, 'SIGTERM');
    const r = await p.exited;
    assert.equal(r.code, 130);
  });

  test('--env and --environment that differ are a usage error (exit 2)', async () => {
    const ws = await workspace();
    const r = await runCli(['supervise', '--workspace', ws.root, '--env', 'a', '--environment', 'b']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--environment "b" differ/);
  });

  test("the panel's spawn_orchestrator() argv through the shim brings marshal up (same pid)", async () => {
    const ws = await workspace();
    const port = await freePort();
    const manager = join(ws.root, 'custom_nodes', 'comfygit-manager');
    const venvBin = join(manager, 'server', '.orchestrator_venv', 'bin');
    await mkdir(venvBin, { recursive: true });
    const python = join(venvBin, 'python');
    await copyFile(SHIM, python);
    await chmod(python, 0o755);
    // The Python orchestrator must not run: it would exit 99.
    const orchestratorPy = join(manager, 'server', 'orchestrator.py');
    await writeFile(orchestratorPy, 'raise SystemExit(99)\n');
    const log = await open(join(ws.metadataDir, 'orchestrator.log'), 'a');
    const child = spawn(
      python,
      [orchestratorPy, '--workspace', ws.root, '--environment', 'a', '--args', '--port', String(port)],
      {
        cwd: ws.root,
        env: cliEnv({ MARSHAL_BIN: BIN, MARSHAL_SHIM_PYTHON: SYSTEM_PYTHON }),
        stdio: ['ignore', log.fd, log.fd],
        detached: true,
      },
    );
    await log.close();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const pid = child.pid ?? 0;
    cleanups.push(async () => signal(pid, 'SIGKILL'));
    const info = await waitFor('the child answers', () => fixtureInfo(port), { timeoutMs: 30_000 });
    assert.equal(info.env, 'a');
    // exec keeps the pid: what the panel spawned is what ComfyGit's readers find in the PID file.
    await waitFor(
      '.orchestrator.pid names the spawned pid',
      async () => (await plainPid(ws.metadataDir)) === pid,
    );
    await waitFor('observer advertised', () => existsSync(join(ws.metadataDir, '.supervisor_control.json')));
    const stop = await runCli(['stop', '--workspace', ws.root]);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(await exited, 0);
    assert.equal(pidExists(info.pid), false);
    assert.match(await readFile(join(ws.metadataDir, 'orchestrator.log'), 'utf8'), /supervis/);
  });

  test('the shim hands every other call to the real interpreter', async () => {
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(SYSTEM_PYTHON, [SHIM, '-c', 'import sys; print(sys.argv[1:])', 'x'], {
        env: { ...process.env, MARSHAL_SHIM_PYTHON: SYSTEM_PYTHON },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      p.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      p.once('close', (code) => resolve({ code, out }));
    });
    assert.equal(r.code, 0);
    assert.equal(r.out.trim(), "['x']");
  });
});
