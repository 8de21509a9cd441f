import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_BASE_URL, DEFAULT_MODEL, resolveApiKey } from '../../src/agents/index.ts';
import { exitCodeFor, MarshalError } from '../../src/core/errors.ts';

describe('resolveApiKey', () => {
  it('has the original defaults', () => {
    assert.equal(DEFAULT_BASE_URL, 'https://openrouter.ai/api/v1');
    assert.equal(DEFAULT_MODEL, 'moonshotai/kimi-k2');
  });

  it('prefers the configured variable, then OPENROUTER_API_KEY, then OPENAI_API_KEY', () => {
    const env = { MY_KEY: 'mine', OPENROUTER_API_KEY: 'or', OPENAI_API_KEY: 'oa' };
    assert.equal(resolveApiKey(env, { baseUrl: DEFAULT_BASE_URL, keyEnv: 'MY_KEY' }), 'mine');
    assert.equal(resolveApiKey(env, { baseUrl: DEFAULT_BASE_URL }), 'or');
    assert.equal(resolveApiKey({ OPENAI_API_KEY: 'oa' }, { baseUrl: DEFAULT_BASE_URL }), 'oa');
    assert.equal(
      resolveApiKey({ MY_KEY: '  ', OPENAI_API_KEY: 'oa' }, { baseUrl: DEFAULT_BASE_URL, keyEnv: 'MY_KEY' }),
      'oa',
    );
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

  it('a custom base URL may run without a key', () => {
    assert.equal(resolveApiKey({}, { baseUrl: 'http://127.0.0.1:11434/v1' }), undefined);
    assert.equal(resolveApiKey({ OPENAI_API_KEY: 'oa' }, { baseUrl: 'http://localhost:1234/v1' }), 'oa');
  });

  it('never sends an OpenRouter key to another endpoint', () => {
    assert.equal(
      resolveApiKey({ OPENROUTER_API_KEY: 'or' }, { baseUrl: 'http://127.0.0.1:11434/v1' }),
      undefined,
    );
    assert.equal(
      resolveApiKey(
        { OPENROUTER_API_KEY: 'or', OPENAI_API_KEY: 'oa' },
        { baseUrl: 'https://llm.example/v1' },
      ),
      'oa',
    );
  });
});
