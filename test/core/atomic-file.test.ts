import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { readJsonFile, writeFileAtomic, writeJsonAtomic } from '../../src/core/atomic-file.ts';
import { MarshalError } from '../../src/core/errors.ts';
import { sha256 } from '../../src/core/hash.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const writerFixture = fileURLToPath(new URL('../fixtures/core/atomic-writer.ts', import.meta.url));
const modeWriterFixture = fileURLToPath(new URL('../fixtures/core/atomic-mode-writer.ts', import.meta.url));

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-atomic-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const isTemp = (name: string): boolean => /^\..+\.\d+\.[0-9a-f]{12}\.tmp$/.test(name);

describe('writeFileAtomic', () => {
  it('creates and replaces a file, leaving no temp file behind', async () => {
    const sub = await mkdtemp(join(dir, 'w-'));
    const file = join(sub, 'state.json');
    await writeFileAtomic(file, 'one');
    await writeFileAtomic(file, new TextEncoder().encode('two'));
    assert.equal(await readFile(file, 'utf8'), 'two');
    assert.deepEqual(await readdir(sub), ['state.json']);
  });

  it('keeps the mode of the file it replaces: a 0600 file stays 0600, a 0755 script stays 0755', async () => {
    const secret = join(dir, 'keep.env');
    const script = join(dir, 'keep.sh');
    await writeFile(secret, 'old');
    await chmod(secret, 0o600);
    await writeFile(script, 'old');
    await chmod(script, 0o755);
    await writeFileAtomic(secret, 'API_KEY=x\n');
    await writeFileAtomic(script, '#!/bin/sh\n');
    assert.equal((await stat(secret)).mode & 0o777, 0o600);
    assert.equal((await stat(script)).mode & 0o777, 0o755);
    assert.equal(await readFile(secret, 'utf8'), 'API_KEY=x\n');
  });

  it('does not carry setuid or setgid bits over to the new content', async () => {
    const file = join(dir, 'suid');
    await writeFile(file, 'old');
    await chmod(file, 0o6755);
    await writeFileAtomic(file, 'new');
    assert.equal((await stat(file)).mode & 0o7777, 0o755);
  });

  it('creates a new file 0666 less the umask, in a child with umask 027 and one with 002', async () => {
    assert.equal(await writeInChild('027', join(dir, 'new-027')), 0o640);
    assert.equal(await writeInChild('002', join(dir, 'new-002')), 0o664);
  });

  it('applies an explicit mode exactly, over the umask and over the mode of the replaced file', async () => {
    const file = join(dir, 'token');
    await writeFile(file, 'old');
    await chmod(file, 0o644);
    await writeFileAtomic(file, 'a', { mode: 0o600 });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal(await writeInChild('077', join(dir, 'public'), '644'), 0o644);
  });

  it('rejects when the directory does not exist and creates nothing', async () => {
    await assert.rejects(writeFileAtomic(join(dir, 'no-such-dir', 'f.json'), 'x'), { code: 'ENOENT' });
  });

  it('removes its temp file and leaves the target untouched when the rename fails', async () => {
    const sub = await mkdtemp(join(dir, 'fail-'));
    const target = join(sub, 'target');
    await mkdir(join(target, 'child'), { recursive: true }); // a non-empty directory cannot be renamed over
    await assert.rejects(writeFileAtomic(target, 'data'), (err: NodeJS.ErrnoException) =>
      ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(err.code ?? ''),
    );
    assert.deepEqual(await readdir(sub), ['target']);
    assert.deepEqual(await readdir(target), ['child']);
  });
});

/** Runs test/fixtures/core/atomic-mode-writer.ts with `umask` and returns the mode of the written file. */
async function writeInChild(umask: string, target: string, mode?: string): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', modeWriterFixture, umask, target, ...(mode === undefined ? [] : [mode])],
    { cwd: repoRoot, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 0, stderr);
  return (await stat(target)).mode & 0o777;
}

describe('writeJsonAtomic', () => {
  it('writes pretty JSON with a trailing newline', async () => {
    const file = join(dir, 'pretty.json');
    await writeJsonAtomic(file, { a: 1, b: [true] });
    assert.equal(await readFile(file, 'utf8'), '{\n  "a": 1,\n  "b": [\n    true\n  ]\n}\n');
  });

  it('refuses a value that is not JSON-serialisable, naming the path', async () => {
    const file = join(dir, 'undef.json');
    await assert.rejects(
      writeJsonAtomic(file, undefined),
      (err: unknown) =>
        err instanceof MarshalError && err.code === 'E_INVALID_INPUT' && err.message.includes(file),
    );
    await assert.rejects(stat(file), { code: 'ENOENT' });
  });
});

describe('readJsonFile', () => {
  const schema = z.object({
    name: z.string(),
    servers: z.array(z.object({ port: z.number().int() })),
    retries: z.number().default(3),
  });

  it('returns ok with the parsed value, schema defaults applied', async () => {
    const file = join(dir, 'good.json');
    await writeJsonAtomic(file, { name: 'a', servers: [{ port: 80 }] });
    assert.deepEqual(await readJsonFile(file), {
      status: 'ok',
      value: { name: 'a', servers: [{ port: 80 }] },
    });
    assert.deepEqual(await readJsonFile(file, schema), {
      status: 'ok',
      value: { name: 'a', servers: [{ port: 80 }], retries: 3 },
    });
  });

  it('tolerates a UTF-8 byte order mark', async () => {
    const file = join(dir, 'bom.json');
    await writeFile(file, '\ufeff{"x":1}');
    assert.deepEqual(await readJsonFile(file), { status: 'ok', value: { x: 1 } });
  });

  it('returns unreadable (EINVAL) for a FIFO without blocking on it', { timeout: 20_000 }, async () => {
    const fifo = join(dir, 'fifo.json');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const r = await readJsonFile(fifo);
    assert.equal(r.status, 'unreadable');
    assert.equal(r.status === 'unreadable' && r.error.code, 'EINVAL');
    assert.match(
      r.status === 'unreadable' ? r.error.message : '',
      /fifo\.json is not a regular file \(a FIFO\)/,
    );
  });

  it('returns missing for a file that does not exist', async () => {
    assert.deepEqual(await readJsonFile(join(dir, 'absent.json')), { status: 'missing' });
  });

  it('returns unreadable (EISDIR) for a directory', async () => {
    const result = await readJsonFile(dir);
    assert.equal(result.status, 'unreadable');
    assert.equal(result.status === 'unreadable' && result.error.code, 'EISDIR');
  });

  it('returns unreadable (EACCES) when read by a user without permission', async (t) => {
    const file = join(dir, 'private.json');
    await writeFile(file, '{"secret":true}');
    const isRoot = process.getuid?.() === 0;
    // Root bypasses file modes, so then the read happens in a child running as "nobody";
    // otherwise the owner itself is locked out with mode 000.
    await chmod(file, isRoot ? 0o600 : 0o000);
    await chmod(dir, 0o755);
    const asNobody: { uid?: number; gid?: number } = isRoot ? { uid: 65534, gid: 65534 } : {};
    t.diagnostic(`reader uid: ${asNobody.uid ?? process.getuid?.()}`);
    const out = await runNode(
      [
        '--input-type=module',
        '-e',
        `import { readJsonFile } from ${JSON.stringify(`${repoRoot}src/core/atomic-file.ts`)};` +
          `const r = await readJsonFile(${JSON.stringify(file)}); console.log(r.status, r.error?.code);`,
      ],
      asNobody,
    );
    assert.equal(out.trim(), 'unreadable EACCES');
  });

  it('returns corrupt with the text for invalid JSON and for an empty file', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, '{"a": 1,');
    const result = await readJsonFile(file);
    assert.equal(result.status, 'corrupt');
    assert.ok(result.status === 'corrupt' && result.error instanceof SyntaxError);
    assert.equal(result.status === 'corrupt' && result.text, '{"a": 1,');
    await writeFile(file, '');
    assert.equal((await readJsonFile(file)).status, 'corrupt');
  });

  it('returns invalid with `key.path: message` issues and the raw value', async () => {
    const file = join(dir, 'invalid.json');
    const raw = { name: 5, servers: [{ port: 80 }, { port: 'eighty' }] };
    await writeJsonAtomic(file, raw);
    const result = await readJsonFile(file, schema);
    assert.equal(result.status, 'invalid');
    if (result.status !== 'invalid') return;
    assert.deepEqual(result.raw, raw);
    assert.equal(result.issues.length, 2);
    assert.match(result.issues[0]!, /^name: .*string/);
    assert.match(result.issues[1]!, /^servers\.1\.port: .*number/);
    await writeJsonAtomic(file, [1, 2]);
    const root = await readJsonFile(file, schema);
    assert.ok(root.status === 'invalid' && /^\(root\): /.test(root.issues[0]!));
  });
});

describe('crash safety', () => {
  it('a writer SIGKILLed at random moments never leaves a partial target', async (t) => {
    const sub = await mkdtemp(join(dir, 'crash-'));
    const target = join(sub, 'big.json');
    let lastSeen = 0;
    for (let round = 0; round < 6; round++) {
      const first = (round + 1) * 1_000_000;
      const completed = await runWriterAndKill(target, first, 1 + Math.floor(Math.random() * 3));
      const result = await readJsonFile(target);
      assert.equal(result.status, 'ok', `round ${round}: target ${result.status}`);
      const doc = (result as { value: { version: number; digest: string; payload: string } }).value;
      assert.equal(
        sha256(doc.payload),
        doc.digest,
        `round ${round}: payload of v${doc.version} is incomplete`,
      );
      // The version on disk is the last reported one or the one whose rename beat the kill.
      assert.ok(
        doc.version === completed || doc.version === completed + 1,
        `v${doc.version} vs ${completed}`,
      );
      assert.ok(doc.version > lastSeen);
      lastSeen = doc.version;
      const stray = (await readdir(sub)).filter((name) => name !== 'big.json');
      assert.ok(stray.every(isTemp), `unexpected files: ${stray.join(', ')}`);
      t.diagnostic(
        `round ${round}: killed after v${completed}, target v${doc.version}, temp files ${stray.length}`,
      );
    }
  });
});

/** Starts the writer, SIGKILLs it a random few ms after its `afterWrites`-th completed write. */
async function runWriterAndKill(target: string, first: number, afterWrites: number): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', writerFixture, target, '2000000', String(first)],
    {
      cwd: repoRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let completed = first - 1;
  let armed = false;
  for await (const line of createInterface({ input: child.stdout })) {
    completed = Number(line);
    if (!armed && completed - first + 1 >= afterWrites) {
      armed = true;
      setTimeout(() => child.kill('SIGKILL'), Math.floor(Math.random() * 25));
    }
  }
  await exited;
  assert.equal(child.signalCode, 'SIGKILL');
  return completed;
}

function runNode(args: string[], ids: { uid?: number; gid?: number }): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args], {
      cwd: repoRoot,
      ...ids,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`exit ${code}: ${err}`))));
  });
}
