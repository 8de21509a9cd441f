import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BASE_URL, DEFAULT_MODEL, resolveApiKey } from '../../src/agents/index.ts';
import { exitCodeFor, MarshalError } from '../../src/core/errors.ts';

describe('resolveApiKey', () => {
  it('has the original defaults', () => {
    assert.equal(DEFAULT_BASE_URL, 'https://openrouter.ai/api/v1');
    assert.equal(DEFAULT_MODEL, 'moonshotai/kimi-k2');
  });

  it('the configured variable wins; else each well-known variable goes only to its provider', () => {
    const env = { MY_KEY: 'mine', OPENROUTER_API_KEY: 'or', OPENAI_API_KEY: 'oa' };
    assert.equal(resolveApiKey(env, { baseUrl: DEFAULT_BASE_URL, keyEnv: 'MY_KEY' }), 'mine');
    assert.equal(resolveApiKey(env, { baseUrl: DEFAULT_BASE_URL }), 'or');
    assert.equal(resolveApiKey(env, { baseUrl: 'https://api.openai.com/v1' }), 'oa');
    assert.equal(resolveApiKey(env, { baseUrl: 'https://llm.example/v1', keyEnv: 'OPENAI_API_KEY' }), 'oa');
  });

  it('OPENAI_API_KEY alone never goes to OpenRouter: exit 2 naming OPENROUTER_API_KEY', () => {
    assert.throws(
      () => resolveApiKey({ OPENAI_API_KEY: 'oa' }, { baseUrl: DEFAULT_BASE_URL }),
      (err: unknown) => {
        assert.ok(err instanceof MarshalError);
        assert.equal(err.code, 'E_MISSING_API_KEY');
        assert.equal(exitCodeFor(err), 2);
        assert.match(err.message, /^OPENROUTER_API_KEY is not set/);
        assert.match(err.hint ?? '', /--api-key-env OPENAI_API_KEY/);
        return true;
      },
    );
  });

  it('a named variable that is unset is an error naming it, not a fall-back to another key', () => {
    assert.throws(
      () =>
        resolveApiKey(
          { MY_KEY: '  ', OPENAI_API_KEY: 'oa' },
          { baseUrl: DEFAULT_BASE_URL, keyEnv: 'MY_KEY' },
        ),
      (err: unknown) =>
        err instanceof MarshalError && err.code === 'E_MISSING_API_KEY' && /MY_KEY/.test(err.message),
    );
  });

  it('never sends a key over plain http to a host that is not loopback', () => {
    const env = { TEAM_KEY: 'sk-team' };
    for (const baseUrl of ['http://llm.example/v1', 'http://10.0.0.5:8000/v1', 'http://user:pw@gpu.lan/v1']) {
      assert.throws(
        () => resolveApiKey(env, { baseUrl, keyEnv: 'TEAM_KEY' }),
        (err: unknown) => {
          assert.ok(err instanceof MarshalError);
          assert.equal(err.code, 'E_INVALID_INPUT');
          assert.equal(exitCodeFor(err), 2);
          assert.match(err.message, /plain http/);
          assert.ok(!err.message.includes('pw@') && !err.message.includes('sk-team'));
          return true;
        },
      );
    }
    for (const baseUrl of ['http://127.0.0.1:8000/v1', 'http://localhost:1/v1', 'http://[::1]:8000/v1']) {
      assert.equal(resolveApiKey(env, { baseUrl, keyEnv: 'TEAM_KEY' }), 'sk-team');
    }
  });

  it('a key pasted where the variable name belongs is refused and not echoed', () => {
    for (const pasted of [
      'sk-or-v1-0123456789abcdef0123456789abcdef',
      'sk_live_abc123',
      'ghp_abcdef',
      'a b c',
    ]) {
      assert.throws(
        () => resolveApiKey({}, { baseUrl: DEFAULT_BASE_URL, keyEnv: pasted }),
        (err: unknown) => {
          assert.ok(err instanceof MarshalError);
          assert.equal(err.code, 'E_INVALID_INPUT');
          assert.ok(!JSON.stringify({ m: err.message, h: err.hint, d: err.details }).includes(pasted));
          return true;
        },
      );
    }
  });

  it('with the default endpoint and no key: E_MISSING_API_KEY, exit 2, naming OPENROUTER_API_KEY', () => {
    assert.throws(
      () => resolveApiKey({ OPENROUTER_API_KEY: '' }, { baseUrl: DEFAULT_BASE_URL }),
      (err: unknown) => {
        assert.ok(err instanceof MarshalError);
        assert.equal(err.code, 'E_MISSING_API_KEY');
        assert.equal(exitCodeFor(err), 2);
        assert.match(err.message, /OPENROUTER_API_KEY/);
        return true;
      },
    );
    assert.throws(
      () => resolveApiKey({}, { baseUrl: 'https://openrouter.ai/api/v1/', keyEnv: 'TEAM_KEY' }),
      /TEAM_KEY/,
    );
  });

  it('a custom base URL runs without a key, and gets none unless one is named for it', () => {
    assert.equal(resolveApiKey({}, { baseUrl: 'http://127.0.0.1:11434/v1' }), undefined);
    assert.equal(resolveApiKey({ OPENAI_API_KEY: 'oa' }, { baseUrl: 'http://localhost:1234/v1' }), undefined);
    assert.equal(
      resolveApiKey(
        { OPENROUTER_API_KEY: 'or', OPENAI_API_KEY: 'oa' },
        { baseUrl: 'https://llm.example/v1' },
      ),
      undefined,
    );
    assert.equal(
      resolveApiKey({ OPENROUTER_API_KEY: 'or' }, { baseUrl: 'http://127.0.0.1:11434/v1' }),
      undefined,
    );
  });
});
