/**
 * Building what a run needs from its settings: the HTTP chat model (key from the environment only,
 * a per-request timeout, retries) and the tools (built-ins confined to the workspace, plus a tools
 * directory). What `marshal heavy` and `marshal ask` do, as a library call.
 *
 * @example
 * const { settings } = await loadAgentSettings({ flags: { agents: 3 }, cwd, env });
 * const runtime = await createAgentRuntime(settings, { env });
 * const result = await runHeavyFromSettings('Why is the sky blue?', settings, runtime, { signal });
 */
import type { ChatModel } from './model.ts';
import { resolveApiKey } from './providers/api-key.ts';
import { createOpenAICompatibleModel } from './providers/openai-compatible.ts';
import type { AgentSettings } from './resolve-settings.ts';
import { checkSetting } from './settings.ts';
import { createBuiltinTools } from './tools/builtin-tools.ts';
import { loadToolsDir } from './tools/load-tools-dir.ts';
import { ToolRegistry } from './tools/tool-registry.ts';

/** A run's model and tools. */
export interface AgentRuntime {
  model: ChatModel;
  tools: ToolRegistry;
  /** The key in use (for redaction), or undefined. */
  apiKey: string | undefined;
}

export interface AgentRuntimeOptions {
  /** Where the API key is read from (never from a file or an argument). */
  env: Readonly<Record<string, string | undefined>>;
  /** Told about each tools-dir module that was skipped (path, reason). */
  onToolSkipped?: (path: string, message: string) => void;
}

/** Builds the model and the tools for `settings`. Throws E_MISSING_API_KEY, E_TOOLS_DIR, E_INVALID_INPUT. */
export async function createAgentRuntime(
  settings: AgentSettings,
  options: AgentRuntimeOptions,
): Promise<AgentRuntime> {
  checkSetting('baseUrl', settings.baseUrl);
  const apiKey = resolveApiKey(options.env, { baseUrl: settings.baseUrl, keyEnv: settings.apiKeyEnv });
  // The variable the key came from, for the message of a 401/403 (first candidate holding it).
  const apiKeyEnv = [settings.apiKeyEnv, 'OPENROUTER_API_KEY', 'OPENAI_API_KEY'].find(
    (name) => name !== undefined && apiKey !== undefined && options.env[name]?.trim() === apiKey,
  );
  const model = createOpenAICompatibleModel({
    baseUrl: settings.baseUrl,
    apiKey,
    ...(apiKeyEnv === undefined ? {} : { apiKeyEnv }),
    retries: settings.retries,
    timeoutMs: settings.requestTimeoutMs,
  });
  const builtins = createBuiltinTools({
    workspace: settings.workspace,
    allowWrite: settings.allowWrite,
    allowSecretFiles: settings.allowSecretFiles,
    ...(settings.search ? { search: settings.search } : {}),
  });
  let tools = new ToolRegistry(builtins);
  if (settings.toolsDir !== undefined) {
    const loaded = await loadToolsDir(settings.toolsDir);
    for (const e of loaded.errors) options.onToolSkipped?.(e.path, e.message);
    tools = tools.with(loaded.tools);
  }
  return { model, tools, apiKey };
}
