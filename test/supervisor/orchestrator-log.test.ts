/**
 * orchestrator.log (a detached supervisor's output; ComfyGit's panel appends the orchestrator's
 * output there too) is written through a size-rotated log like the switch log: 65k lines of
 * child output stay bounded (10 MiB x 5 files) instead of one ever-growing file.
 */
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { TEXT_LOG_DEFAULTS } from '../../src/supervisor/index.ts';
import { runCli, stopLeftovers } from './cli-harness.ts';
import { freePort, makeWorkspace, portOpen, SYSTEM_PYTHON, waitFor } from './helpers.ts';

const roots: string[] = [];
const cleanups: Array<() => Promise<unknown>> = [];
after(async () => {
  for (const root of roots) await stopLeftovers(root);
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
});

const SPAM = [
  'import socket, sys, time',
  "port = int(sys.argv[sys.argv.index('--port') + 1])",
  "line = 'x' * 200",
  'for i in range(65000):',
  "    sys.stdout.write(f'{line} {i}\\n')",
  "sys.stdout.write('SPAM-DONE\\n')",
  'sys.stdout.flush()',
  's = socket.socket()',
  's.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)',
  "s.bind(('127.0.0.1', port))",
  's.listen()',
  'time.sleep(300)',
  '',
].join('\n');

describe('orchestrator.log', () => {
  test('65k lines of child output through a detached supervisor stay bounded (rotated)', async () => {
    const ws = await makeWorkspace({
      envs: { a: { marshalEnvYaml: `start: [${SYSTEM_PYTHON}, ./spam.py]\n` } },
    });
    roots.push(ws.root);
    cleanups.push(() => ws.cleanup());
    await writeFile(join(ws.envDir('a'), 'spam.py'), SPAM);
    const port = await freePort();
    const log = join(ws.metadataDir, 'orchestrator.log');
    const r = await runCli([
      'supervise',
      '--workspace',
      ws.root,
      '--env',
      'a',
      '--detach',
      '--',
      '--port',
      String(port),
    ]);
    assert.equal(r.code, 0, r.stderr);
    await waitFor('the child listens', () => portOpen(port), { timeoutMs: 120_000, intervalMs: 200 });
    await waitFor(
      'the last line in orchestrator.log',
      async () => (await readFile(log, 'utf8').catch(() => '')).includes('SPAM-DONE'),
      { timeoutMs: 60_000, intervalMs: 200 },
    );
    const files = [log, ...[1, 2, 3, 4, 5].map((i) => `${log}.${i}`)].filter((f) => existsSync(f));
    assert.ok(existsSync(`${log}.1`), 'orchestrator.log was rotated');
    assert.ok(files.length <= TEXT_LOG_DEFAULTS.maxFiles, `files: ${files.join(', ')}`);
    for (const f of files)
      assert.ok(statSync(f).size <= TEXT_LOG_DEFAULTS.maxBytes, `${f}: ${statSync(f).size} bytes`);
    const stop = await runCli(['stop', '--workspace', ws.root]);
    assert.equal(stop.code, 0, stop.stderr);
  });
});
