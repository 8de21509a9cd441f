import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MarshalError } from '../../src/core/errors.ts';
import { runCommand } from '../../src/core/index.ts';
import { createJsonlLogger } from '../../src/core/jsonl-logger.ts';

const dir = mkdtempSync(join(tmpdir(), 'marshal-jsonl-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const lines = (path: string): string[] => readFileSync(path, 'utf8').split('\n').slice(0, -1);

describe('createJsonlLogger', () => {
  it('writes one JSON line per record with ts, creating parent directories', () => {
    const path = join(dir, 'a', 'b', 'trace.jsonl');
    const log = createJsonlLogger(path, { now: () => new Date(Date.UTC(2026, 0, 2)) });
    log.log({ event: 'start', n: 1, ts: 'forged' });
    log.log({ event: 'stop' });
    log.close();
    assert.deepEqual(
      lines(path).map((l) => JSON.parse(l)),
      [
        { ts: '2026-01-02T00:00:00.000Z', event: 'start', n: 1 },
        { ts: '2026-01-02T00:00:00.000Z', event: 'stop' },
      ],
    );
    assert.equal(statSync(path).mode & 0o777, 0o600);
  });

  it('an injection string cannot create a second line; secrets are redacted', () => {
    const path = join(dir, 'audit.jsonl');
    const log = createJsonlLogger(path, { known: ['my-live-key-123'] });
    log.log({
      user: 'x\nFAKE ENTRY',
      other: '\r{"ts":"x","event":"forged"}\u2028\x1b[2J\u0085',
      header: 'Bearer abcdefghijklmnop',
      body: 'key my-live-key-123 and sk-or-v1-aaaaaaaaaaaaaaaaaaaaaaaa',
    });
    log.close();
    const text = readFileSync(path, 'utf8');
    assert.equal(text.split(/\r\n|\r|\n|\u2028|\u2029|\u0085/).length, 2); // one line + trailing ''
    const rec = JSON.parse(lines(path)[0]!);
    assert.equal(rec.user, 'x\\nFAKE ENTRY');
    assert.equal(rec.header, 'Bearer [REDACTED]');
    assert.equal(rec.body, 'key [REDACTED] and [REDACTED]');
    assert.doesNotMatch(text, /my-live-key-123|sk-or-v1-a/);
  });

  it('lines from concurrent writer processes never interleave', async () => {
    const path = join(dir, 'shared.jsonl');
    const writer = new URL('../fixtures/core/proc-jsonl-writer.mjs', import.meta.url).pathname;
    const cwd = new URL('../..', import.meta.url).pathname;
    const runs = ['a', 'b'].map((id) =>
      runCommand([process.execPath, '--import', 'tsx', writer, path, id, '300'], { cwd, timeoutMs: 60_000 }),
    );
    for (const r of await Promise.all(runs)) assert.equal(r.code, 0, r.stderr);
    const records = lines(path).map((l) => JSON.parse(l) as { writer: string; i: number });
    for (const id of ['a', 'b']) {
      const mine = records.filter((r) => r.writer === id).map((r) => r.i);
      assert.deepEqual(mine, [...Array(300).keys()]);
    }
    assert.equal(records.length, 600);
  });

  it('appends to an existing file across instances', () => {
    const path = join(dir, 'append.jsonl');
    for (const n of [1, 2]) {
      const log = createJsonlLogger(path);
      log.log({ n });
      log.close();
    }
    assert.deepEqual(
      lines(path).map((l) => JSON.parse(l).n),
      [1, 2],
    );
  });

  it('rotates by size, keeps at most maxFiles files, every line valid JSON, newest last', () => {
    const sub = join(dir, 'rot');
    const path = join(sub, 'r.jsonl');
    const log = createJsonlLogger(path, { maxBytes: 200, maxFiles: 3 });
    for (let i = 0; i < 100; i++) log.log({ i, pad: 'y'.repeat(40) });
    log.close();
    assert.deepEqual(readdirSync(sub).sort(), ['r.jsonl', 'r.jsonl.1', 'r.jsonl.2']);
    const seen: number[] = [];
    for (const name of ['r.jsonl.2', 'r.jsonl.1', 'r.jsonl']) {
      const file = join(sub, name);
      assert.ok(statSync(file).size <= 200, name);
      for (const l of lines(file)) seen.push(JSON.parse(l).i);
    }
    // Contiguous and ending with the newest record: nothing lost between the kept files.
    assert.equal(seen.at(-1), 99);
    assert.deepEqual(
      seen,
      seen.map((_, k) => (seen[0] ?? 0) + k),
    );
  });

  it('maxFiles 1 keeps only the live file', () => {
    const sub = join(dir, 'one');
    const log = createJsonlLogger(join(sub, 'x.jsonl'), { maxBytes: 100, maxFiles: 1 });
    for (let i = 0; i < 20; i++) log.log({ i, pad: 'z'.repeat(30) });
    log.close();
    assert.deepEqual(readdirSync(sub), ['x.jsonl']);
    assert.equal(JSON.parse(lines(join(sub, 'x.jsonl')).at(-1)!).i, 19);
  });

  it('throws after close and rejects bad options naming the field', () => {
    const log = createJsonlLogger(join(dir, 'closed.jsonl'));
    log.close();
    log.close();
    assert.throws(() => log.log({ a: 1 }), MarshalError);
    assert.throws(
      () => createJsonlLogger(join(dir, 'bad.jsonl'), { maxFiles: 0 }),
      (e: unknown) => e instanceof MarshalError && /maxFiles/.test(e.message),
    );
  });
});
