import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { AbortedError, MarshalError } from '../../src/core/errors.ts';
import { canonicalJson, sha256, sha256CanonicalJson, sha256File, sha256Stream } from '../../src/core/hash.ts';
import { PROPERTY_SEED, pinPropertySeed } from '../helpers/property-seed.ts';

pinPropertySeed();

const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-hash-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('sha256', () => {
  it('matches the FIPS 180-2 test vectors for strings and bytes', () => {
    assert.equal(sha256(''), EMPTY);
    assert.equal(sha256('abc'), ABC);
    assert.equal(sha256(new TextEncoder().encode('abc')), ABC);
  });

  it('hashes strings as UTF-8', () => {
    assert.equal(sha256('é'), sha256(Buffer.from([0xc3, 0xa9])));
  });
});

describe('sha256Stream', () => {
  it('hashes the concatenation of string and byte chunks', async () => {
    assert.equal(await sha256Stream(Readable.from(['a', Buffer.from('b'), 'c'])), ABC);
    assert.equal(await sha256Stream(Readable.from([])), EMPTY);
  });

  it('rejects with the stream error', async () => {
    const failing = new Readable({
      read() {
        this.destroy(new Error('disk on fire'));
      },
    });
    await assert.rejects(sha256Stream(failing), /disk on fire/);
  });
});

describe('sha256File', () => {
  it('streams a multi-chunk file to the same digest as hashing it whole', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    const file = join(dir, 'big.bin');
    await writeFile(file, data);
    assert.equal(await sha256File(file), sha256(data));
  });

  it('hashes an empty file', async () => {
    const file = join(dir, 'empty.bin');
    await writeFile(file, '');
    assert.equal(await sha256File(file), EMPTY);
  });

  it('rejects with ENOENT for a missing file', async () => {
    await assert.rejects(sha256File(join(dir, 'nope')), { code: 'ENOENT' });
  });

  it('rejects with AbortedError when the signal is already aborted', async () => {
    const file = join(dir, 'small.txt');
    await writeFile(file, 'abc');
    await assert.rejects(sha256File(file, { signal: AbortSignal.abort() }), AbortedError);
  });

  it('stops reading and rejects with AbortedError when aborted mid-way', async () => {
    const file = join(dir, 'abort.bin');
    await writeFile(file, randomBytes(8 * 1024 * 1024));
    const ac = new AbortController();
    const pending = sha256File(file, { signal: ac.signal });
    ac.abort(new Error('user pressed ^C'));
    const err = await pending.catch((e: unknown) => e);
    assert.ok(err instanceof AbortedError, String(err));
    assert.match(err.message, /abort\.bin/);
  });
});

describe('canonicalJson', () => {
  it('sorts keys recursively, keeps array order and has no whitespace', () => {
    const value = { b: 1, a: { z: [3, { y: true, x: null }], m: 'hi there' } };
    assert.equal(canonicalJson(value), '{"a":{"m":"hi there","z":[3,{"x":null,"y":true}]},"b":1}');
  });

  it('sorts by UTF-16 code unit, like Array.prototype.sort', () => {
    assert.equal(
      canonicalJson({ b: 0, B: 0, é: 0, a: 0, '10': 0, '9': 0 }),
      '{"10":0,"9":0,"B":0,"a":0,"b":0,"é":0}',
    );
  });

  it('normalises like JSON.stringify: toJSON, dropped undefined members, null in arrays', () => {
    const date = new Date('2026-01-02T03:04:05.000Z');
    assert.equal(
      canonicalJson({ when: date, gone: undefined, fn: () => 1, list: [undefined, 1] }),
      '{"list":[null,1],"when":"2026-01-02T03:04:05.000Z"}',
    );
  });

  it('escapes strings exactly as JSON does', () => {
    assert.equal(
      canonicalJson({ 'k"\n': 'line\nbreak\u2028' }),
      JSON.stringify({ 'k"\n': 'line\nbreak\u2028' }),
    );
  });

  for (const [label, value, where] of [
    ['NaN', { a: [1, Number.NaN] }, /non-finite number NaN at \$\.a\[1\]/],
    ['Infinity', { deep: { x: Number.POSITIVE_INFINITY } }, /non-finite number Infinity at \$\.deep\.x/],
    ['-Infinity', Number.NEGATIVE_INFINITY, /non-finite number -Infinity at \$/],
    ['bigint', { n: 10n }, /bigint at \$\.n/],
    ['symbol', [Symbol('s')], /symbol at \$\[0\]/],
    ['top-level undefined', undefined, /not representable/],
  ] as const) {
    it(`rejects ${label} with an error naming where it is`, () => {
      assert.throws(
        () => canonicalJson(value),
        (err: unknown) =>
          err instanceof MarshalError && err.code === 'E_INVALID_INPUT' && where.test(err.message),
      );
    });
  }

  it('rejects cycles but accepts the same object twice side by side', () => {
    const shared = { v: 1 };
    assert.equal(canonicalJson({ a: shared, b: shared }), '{"a":{"v":1},"b":{"v":1}}');
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    assert.throws(() => canonicalJson(cyclic), /circular reference at \$\.self/);
  });

  it('round-trips every JSON value and ignores key order (property, pinned seed)', () => {
    assert.equal(fc.readConfigureGlobal().seed, PROPERTY_SEED, 'the seed is pinned, not drawn per run');
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        assert.deepEqual(JSON.parse(text), JSON.parse(JSON.stringify(value)));
        assert.equal(canonicalJson(reverseKeys(value)), text);
        assert.doesNotMatch(text, /[\n\r\t]/);
      }),
    );
  });

  it('sha256CanonicalJson is the hash of the canonical text, equal for reordered objects', () => {
    assert.equal(sha256CanonicalJson({ a: 1, b: [2] }), sha256('{"a":1,"b":[2]}'));
    assert.equal(sha256CanonicalJson({ b: [2], a: 1 }), sha256CanonicalJson({ a: 1, b: [2] }));
    assert.notEqual(sha256CanonicalJson({ a: [1, 2] }), sha256CanonicalJson({ a: [2, 1] }));
  });
});

function reverseKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reverseKeys);
  if (value === null || typeof value !== 'object') return value;
  // fromEntries defines own properties, so a generated "__proto__" key stays a key.
  const entries = Object.keys(value).reverse();
  return Object.fromEntries(
    entries.map((key) => [key, reverseKeys((value as Record<string, unknown>)[key])]),
  );
}
