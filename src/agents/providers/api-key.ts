/** Where the API key comes from: the environment only, never a config file or the command line. */

import { MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';

/** OpenRouter, the default endpoint. */
export const DEFAULT_BASE_URL = 'https://openrouter.ai/api/v1';
/** The original Make It Heavy's default model. */
export const DEFAULT_MODEL = 'moonshotai/kimi-k2';

/** True when `baseUrl` points at OpenRouter (which always needs a key). */
export function isOpenRouter(baseUrl: string): boolean {
  try {
    const host = new URL(baseUrl).hostname.toLowerCase();
    return host === 'openrouter.ai' || host.endsWith('.openrouter.ai');
  } catch {
    return false;
  }
}

/**
 * The API key for `baseUrl`: the variable named by `keyEnv` (a config's `api_key_env`) when set,
 * else `OPENROUTER_API_KEY` (only for OpenRouter hosts, so an OpenRouter key never travels to a
 * local or third-party server), else `OPENAI_API_KEY`. Empty values count as unset. Returns
 * undefined when none applies and the endpoint is not OpenRouter (local servers such as Ollama need
 * none); for OpenRouter it throws E_MISSING_API_KEY (exit 2) naming `OPENROUTER_API_KEY`.
 */
export function resolveApiKey(
  env: Readonly<Record<string, string | undefined>>,
  options: { baseUrl: string; keyEnv?: string | undefined },
): string | undefined {
  const openRouter = isOpenRouter(options.baseUrl);
  const names = [options.keyEnv, openRouter ? 'OPENROUTER_API_KEY' : undefined, 'OPENAI_API_KEY'].filter(
    (n): n is string => typeof n === 'string' && n !== '',
  );
  for (const name of names) {
    const value = env[name]?.trim();
    if (value) return value;
  }
  if (openRouter) {
    const named = options.keyEnv ? ` (or ${options.keyEnv}, as the config names)` : '';
    throw new MarshalError(AGENT_ERRORS.E_MISSING_API_KEY, `OPENROUTER_API_KEY is not set${named}`, {
      hint: 'export OPENROUTER_API_KEY=... (keys are read only from the environment), or point the base URL (setting baseUrl) at a local OpenAI-compatible server',
      details: { variables: names, baseUrl: options.baseUrl },
    });
  }
  return undefined;
}
