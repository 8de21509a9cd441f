import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  redactSecrets,
  sanitizeForLog,
  sanitizeForTerminal,
  scrubValue,
} from '../../src/core/log-hygiene.ts';

// Log-injection payloads: each would forge a line, move the cursor or reorder text if logged raw.
const INJECTIONS = [
  'x\nFAKE ENTRY',
  'x\rFAKE ENTRY',
  'x\r\n2026-01-01 INFO admin logged in',
  '\x1b[2J\x1b[Hcleared',
  'a\u2028b\u2029c',
  'c1\u0085next\u009bline',
  'bell\x07 nul\x00 del\x7f',
  'bidi \u202eevil\u202c \u2066x\u2069',
];

describe('sanitizeForLog', () => {
  it('leaves no line breaks or control characters in injection strings', () => {
    for (const s of INJECTIONS) {
      const out = sanitizeForLog(s);
      assert.doesNotMatch(
        out,
        /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028-\u202e\u2066-\u2069]/,
        JSON.stringify(s),
      );
      assert.equal(out.split(/\r\n|\r|\n|\u2028|\u2029|\u0085/).length, 1);
    }
  });

  it('makes the neutralised characters visible', () => {
    assert.equal(sanitizeForLog('x\nFAKE'), 'x\\nFAKE');
    assert.equal(sanitizeForLog('x\rY'), 'x\\rY');
    assert.equal(sanitizeForLog('\x1b[2J'), '\\e[2J');
    assert.equal(sanitizeForLog('a\u2028b'), 'a\\u2028b');
    assert.equal(sanitizeForLog('\u0085'), '\\u0085');
  });

  it('keeps ordinary text, tabs and non-ASCII letters', () => {
    assert.equal(sanitizeForLog('tab\there é 日本 🙂'), 'tab\there é 日本 🙂');
  });
});

describe('sanitizeForTerminal', () => {
  it('keeps newlines only when asked, still neutralising the rest', () => {
    assert.equal(sanitizeForTerminal('a\nb\x1b[31m'), 'a\\nb\\e[31m');
    assert.equal(sanitizeForTerminal('a\nb\x1b[31m\r', true), 'a\nb\\e[31m\\r');
  });
});

describe('redactSecrets', () => {
  it('redacts known key formats, bearer tokens and key=value secrets', () => {
    const samples: [string, string][] = [
      ['key sk-or-v1-0123456789abcdef0123456789abcdef end', 'key [REDACTED] end'],
      ['sk-proj-ABCDEFGHIJKLMNOPQRSTUVWX', '[REDACTED]'],
      ['Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig', 'Authorization: Bearer [REDACTED]'],
      ['url?api_key=abcd1234&x=1', 'url?api_key=[REDACTED]&x=1'],
      ['{"token": "s3cr3tvalue"}', '{"token": "[REDACTED]"}'],
      ['password=hunter22', 'password=[REDACTED]'],
      ['ghp_0123456789abcdefghijABCDEFGHIJ', '[REDACTED]'],
    ];
    for (const [input, expected] of samples) assert.equal(redactSecrets(input), expected, input);
  });

  it('redacts exact known values anywhere', () => {
    assert.equal(redactSecrets('using plainsecretvalue now', ['plainsecretvalue']), 'using [REDACTED] now');
  });

  it('leaves innocent text alone', () => {
    const text = 'tokens used: 1234, max_tokens 50, skip-this-value';
    assert.equal(redactSecrets(text), text);
  });
});

describe('scrubValue', () => {
  it('sanitises and redacts nested strings and keys, and redacts secret-named keys', () => {
    const out = scrubValue({
      'k\ney': 'v\nFAKE',
      nested: [{ apiKey: 'anything', refresh_token: 'r', maxTokens: 5, note: 'Bearer abcdefghijk' }],
    });
    assert.deepEqual(out, {
      'k\\ney': 'v\\nFAKE',
      nested: [
        { apiKey: '[REDACTED]', refresh_token: '[REDACTED]', maxTokens: 5, note: 'Bearer [REDACTED]' },
      ],
    });
  });

  it('always returns something JSON can serialise', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic.self = cyclic;
    const shared = { a: 1 };
    const err = Object.assign(new Error('bad\nthing'), { code: 'ENOENT' });
    const out = scrubValue({ cyclic, pair: [shared, shared], big: 10n, err, when: new Date(0), f: () => 1 });
    assert.deepEqual(JSON.parse(JSON.stringify(out)), {
      cyclic: { name: 'loop', self: '[Circular]' },
      pair: [{ a: 1 }, { a: 1 }],
      big: '10',
      err: { name: 'Error', message: 'bad\\nthing', code: 'ENOENT' },
      when: '1970-01-01T00:00:00.000Z',
    });
    let deep: unknown = 'bottom';
    for (let i = 0; i < 100; i++) deep = { d: deep };
    assert.match(JSON.stringify(scrubValue(deep)), /\[Truncated\]/);
  });
});
