/**
 * `.metadata/` is written by other programs, so its files are untrusted input: against a real
 * `marshal supervise`, a FIFO, a symlink to /dev/zero and a 200 MB file under protocol names are
 * refused without wedging the watcher or stopping SIGTERM; the switch log is never appended through
 * a symlink; an unwritable `.metadata/` is a classified error.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readFile, rename, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import {
  BIN,
  cleanupAfter,
  cliEnv,
  FAST,
  runCli,
  startSupervise,
  statusJson,
  waitRunning,
} from './cli-harness.ts';
import { freePort, makeWorkspace, waitFor } from './helpers.ts';

const run = promisify(execFile);
const { workspaces } = cleanupAfter();

async function workspace() {
  const tw = await makeWorkspace({ envs: { a: {} } });
  workspaces.push(tw);
  return tw;
}

const command = (c: string) => `${JSON.stringify({ command: c, timestamp: Date.now() / 1000 })}\n`;

describe('protocol files are untrusted input', () => {
  it('a FIFO, a /dev/zero symlink and a 200 MB file are refused; .cmd still works; SIGTERM still ends it', {
    timeout: 120_000,
  }, async () => {
    const tw = await workspace();
    const sup = startSupervise(tw.root, 'a', await freePort());
    const first = await waitRunning(tw.root);
    const request = join(tw.metadataDir, '.switch_request.json');
    const cmd = join(tw.metadataDir, '.cmd');

    // A FIFO under the request's name: a blocking open would wait for a writer forever.
    await run('mkfifo', [request]);
    // Written whole and renamed into place: a poll between a plain writeFile's truncate and its
    // write would take an empty .cmd, report it as corrupt and drop the restart.
    await writeFile(`${cmd}.tmp`, command('restart'));
    await rename(`${cmd}.tmp`, cmd);
    const second = await waitFor('restarted despite the FIFO', async () => {
      const s = await statusJson(tw.root);
      return s.state === 'running' && s.childPid !== null && s.childPid !== first.childPid ? s : null;
    });
    await waitFor('the FIFO removed', () => !existsSync(request));

    // A symlink to /dev/zero and a 200 MB (sparse) file: refused by type and size, then removed.
    await symlink('/dev/zero', cmd);
    await waitFor('the symlink removed', () => !existsSync(cmd));
    await writeFile(`${request}.tmp`, '');
    await truncate(`${request}.tmp`, 200 * 1024 * 1024);
    await rename(`${request}.tmp`, request);
    await waitFor('the 200 MB request removed', () => !existsSync(request));
    const log = await readFile(join(tw.metadataDir, 'supervisor-switch.log'), 'utf8');
    assert.match(log, /\.switch_request\.json: is not a regular file \(a FIFO\)/);
    assert.match(log, /\.cmd: is a symbolic link \(refused\)/);
    assert.match(log, /\.switch_request\.json: is larger than the \S+ \S+ limit/);
    assert.equal((await statusJson(tw.root)).childPid, second.childPid);

    // SIGTERM while a FIFO sits there again.
    await run('mkfifo', [request]);
    sup.proc.kill('SIGTERM');
    const end = await sup.exited;
    assert.equal(end.code, 130, end.stderr);
  });

  it('never appends the switch log through a symlink, and says why it cannot start', async () => {
    const tw = await workspace();
    const outside = join(tw.root, 'outside.txt');
    await writeFile(outside, 'untouched\n');
    await symlink(outside, join(tw.metadataDir, 'supervisor-switch.log'));
    const r = await runCli([
      'supervise',
      `--workspace=${tw.root}`,
      '--env=a',
      ...FAST,
      '--',
      '--port',
      String(await freePort()),
    ]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot write .*supervisor-switch.log/);
    assert.match(r.stderr, /symbolic link/);
    assert.equal(await readFile(outside, 'utf8'), 'untouched\n');
    assert.equal(existsSync(join(tw.metadataDir, '.orchestrator.pid')), false);
  });

  it('an unwritable .metadata/ is E_METADATA_UNUSABLE, not an unexpected error', async () => {
    const tw = await workspace();
    // Root ignores mode bits: run the CLI as nobody on a workspace it can read but not write.
    await chmod(tw.root, 0o755);
    const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(
        'setpriv',
        [
          '--reuid=65534',
          '--regid=65534',
          '--clear-groups',
          process.execPath,
          BIN,
          'supervise',
          `--workspace=${tw.root}`,
          '--env=a',
          ...FAST,
        ],
        { env: cliEnv(), timeout: 30_000 },
        (err, _stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr: String(stderr) }),
      );
    });
    assert.equal(code, 1, stderr);
    assert.match(stderr, /cannot write .*permission denied[\s\S]*needs a writable .metadata/);
    assert.doesNotMatch(stderr, /unexpected error/i);
  });
});
