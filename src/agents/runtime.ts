/**
 * Building what a run needs from its settings: the chat model (the HTTP provider: key from the
 * environment only, a per-request timeout, retries; or the Claude Code CLI), per-agent providers
 * routed by model id, and the tools (built-ins confined to the workspace, a tools directory, the
 * tools of the configured MCP servers). What `marshal heavy` and `marshal ask` do, as a library
 * call. `close()` the runtime when the run ends: it stops the MCP servers.
 *
 * @example
 * const { settings } = await loadAgentSettings({ flags: { agents: 3 }, cwd, env });
 * const runtime = await createAgentRuntime(settings, { env });
 * try {
 *   const result = await runHeavyFromSettings('Why is the sky blue?', settings, runtime, { signal });
 * } finally {
 *   await runtime.close();
 * }
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidInputError } from '../core/errors.ts';
import { MARK_TASK_COMPLETE } from './execute-tool-call.ts';
import type { ProviderKind } from './marshal-config.ts';
import { McpToolSource } from './mcp/mcp-tools.ts';
import type { ChatModel } from './model.ts';
import { resolveApiKey } from './providers/api-key.ts';
import { createClaudeCodeModel, findClaudeBinary, type McpServeCommand } from './providers/claude-code.ts';
import { createLocalModel } from './providers/local.ts';
import { createOpenAICompatibleModel } from './providers/openai-compatible.ts';
import type { AgentSettings } from './resolve-settings.ts';
import { checkSetting } from './settings.ts';
import { createBuiltinTools } from './tools/builtin-tools.ts';
import { loadToolsDir } from './tools/load-tools-dir.ts';
import { ToolRegistry } from './tools/tool-registry.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** A run's model and tools. */
export interface AgentRuntime {
  model: ChatModel;
  tools: ToolRegistry;
  /** The key in use (for redaction), or undefined. */
  apiKey: string | undefined;
  /** Every key in use (per-agent endpoints may have their own), for redaction. */
  apiKeys: string[];
  /** Where each tool comes from: `builtin`, `tools-dir` or `mcp:SERVER`. */
  toolSources: Record<string, string>;
  /** The configured MCP servers (started when their tools were listed). */
  mcp: McpToolSource | undefined;
  /** Stops the MCP servers (awaiting their exit) and removes temporary files. Idempotent. */
  close(): Promise<void>;
}

export interface AgentRuntimeOptions {
  /** Where the API key is read from (never from a file or an argument). */
  env: Env;
  /** Told about each tools-dir module, MCP server or MCP tool that was skipped (where, reason). */
  onToolSkipped?: (path: string, message: string) => void;
  /** Bound on starting the MCP servers and listing their tools (with the per-server bounds). */
  signal?: AbortSignal | undefined;
}

/** The tools of a run, without a model (what `marshal tools list` and `marshal mcp serve` need). */
export interface ToolSet {
  tools: ToolRegistry;
  toolSources: Record<string, string>;
  mcp: McpToolSource | undefined;
  close(): Promise<void>;
}

/**
 * Builds the tools for `settings`: built-ins, the tools directory, and (with `mcp: true`, the
 * default) the configured MCP servers' tools, which starts those servers. Throws E_TOOLS_DIR,
 * E_TOOL_DEFINITION.
 */
export async function createToolSet(
  settings: AgentSettings,
  options: AgentRuntimeOptions & { mcp?: boolean },
): Promise<ToolSet> {
  const builtins = createBuiltinTools({
    workspace: settings.workspace,
    allowWrite: settings.allowWrite,
    allowSecretFiles: settings.allowSecretFiles,
    ...(settings.search ? { search: settings.search } : {}),
  });
  const toolSources: Record<string, string> = {};
  for (const t of builtins) toolSources[t.name] = 'builtin';
  let tools = new ToolRegistry(builtins);
  if (settings.toolsDir !== undefined) {
    const loaded = await loadToolsDir(settings.toolsDir);
    for (const e of loaded.errors) options.onToolSkipped?.(e.path, e.message);
    tools = tools.with(loaded.tools);
    for (const t of loaded.tools) toolSources[t.name] = 'tools-dir';
  }
  const servers = options.mcp === false ? {} : settings.mcpServers;
  if (Object.keys(servers).length === 0) return { tools, toolSources, mcp: undefined, close: async () => {} };
  const mcp = new McpToolSource(servers, { baseDir: settings.configDir, env: options.env });
  try {
    const listing = await mcp.listTools(options.signal);
    for (const p of listing.problems) {
      options.onToolSkipped?.(p.tool === undefined ? `mcp:${p.server}` : `${p.server}__${p.tool}`, p.message);
    }
    const fresh = listing.tools.filter((t) => {
      if (!tools.has(t.name)) return true;
      options.onToolSkipped?.(t.name, `the name is taken by a ${toolSources[t.name]} tool`);
      return false;
    });
    tools = tools.with(mcp.definitions(fresh));
    for (const t of fresh) toolSources[t.name] = `mcp:${t.server}`;
  } catch (error) {
    await mcp.close();
    throw error;
  }
  return { tools, toolSources, mcp, close: () => mcp.close() };
}

/** bin/marshal.js of this package (src/agents and dist/agents are both two levels below it). */
export const MARSHAL_BIN = fileURLToPath(new URL('../../bin/marshal.js', import.meta.url));

/** One provider as a run uses it: the main one, or a per-agent one. */
interface ProviderSpec {
  provider: ProviderKind;
  baseUrl: string;
  apiKeyEnv: string | undefined;
}

const specKey = (p: ProviderSpec) =>
  p.provider === 'claude-code'
    ? 'claude-code'
    : p.provider === 'local'
      ? 'local'
      : `${p.baseUrl} ${p.apiKeyEnv ?? ''}`;

/** Builds the model and the tools for `settings`. Throws E_MISSING_API_KEY, E_TOOLS_DIR, E_INVALID_INPUT, E_CLAUDE_CODE_MISSING, E_LOCAL_ENGINE_MISSING, E_LOCAL_MODEL. */
export async function createAgentRuntime(
  settings: AgentSettings,
  options: AgentRuntimeOptions,
): Promise<AgentRuntime> {
  checkSetting('baseUrl', settings.baseUrl);
  const main: ProviderSpec = {
    provider: settings.provider,
    baseUrl: settings.baseUrl,
    apiKeyEnv: settings.apiKeyEnv,
  };
  // Per-agent providers, checked before anything starts. Calls are routed by model id: within one
  // run a model id belongs to one provider.
  const routes = new Map<string, ProviderSpec>();
  for (const [i, agent] of settings.perAgent.entries()) {
    if (agent.provider === undefined && agent.baseUrl === undefined && agent.apiKeyEnv === undefined)
      continue;
    const spec: ProviderSpec = {
      provider: agent.provider ?? main.provider,
      baseUrl: agent.baseUrl ?? main.baseUrl,
      apiKeyEnv: agent.apiKeyEnv ?? (agent.baseUrl === undefined ? main.apiKeyEnv : undefined),
    };
    if (specKey(spec) === specKey(main)) continue;
    const field = `heavy.perAgent[${i}].model`;
    if (agent.model === undefined || agent.model === settings.model) {
      throw new InvalidInputError(
        field,
        agent.model ?? null,
        `expected a model id other than the run's model ${JSON.stringify(settings.model)} when this agent has its own provider or endpoint (calls are routed by model id)`,
      );
    }
    const taken = routes.get(agent.model);
    if (taken !== undefined && specKey(taken) !== specKey(spec)) {
      throw new InvalidInputError(
        field,
        agent.model,
        'expected one provider per model id; another agent uses it with a different provider or endpoint',
      );
    }
    routes.set(agent.model, spec);
  }
  const keys: string[] = [];
  const temp: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  const toolSet = await createToolSet(settings, options);
  const close = once(async () => {
    await toolSet.close();
    for (const closeModel of closers) await closeModel();
    for (const dir of temp) await rm(dir, { recursive: true, force: true });
  });
  try {
    const built = new Map<string, ChatModel>();
    const modelFor = async (spec: ProviderSpec): Promise<ChatModel> => {
      const key = specKey(spec);
      let model = built.get(key);
      if (model === undefined) {
        model = await buildModel(spec, settings, options.env, toolSet, keys, temp, closers, options.signal);
        built.set(key, model);
      }
      return model;
    };
    const mainModel = await modelFor(main);
    let model = mainModel;
    if (routes.size > 0) {
      const byId = new Map<string, ChatModel>();
      for (const [id, spec] of routes) byId.set(id, await modelFor(spec));
      model = {
        label: mainModel.label,
        chat: (request) => (byId.get(request.model) ?? mainModel).chat(request),
      };
    }
    return {
      model,
      tools: toolSet.tools,
      apiKey: keys[0],
      apiKeys: keys,
      toolSources: toolSet.toolSources,
      mcp: toolSet.mcp,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => {
    running ??= fn();
    return running;
  };
}

async function buildModel(
  spec: ProviderSpec,
  settings: AgentSettings,
  env: Env,
  toolSet: ToolSet,
  keys: string[],
  temp: string[],
  closers: Array<() => Promise<void>>,
  signal: AbortSignal | undefined,
): Promise<ChatModel> {
  if (spec.provider === 'local') {
    const local = await createLocalModel({
      modelFile: settings.modelFile,
      cwd: settings.workspace,
      env,
      threads: settings.threads,
      signal,
    });
    closers.push(() => local.close());
    return local;
  }
  if (spec.provider === 'claude-code') {
    findClaudeBinary(settings.claudeBinary, settings.workspace, env);
    // Every tool of the run but mark_task_complete (Claude Code ends on its own): the built-in
    // ones, --tools-dir's and the mcp.servers' (`marshal mcp serve` proxies those, as SERVER__TOOL).
    const served = new Set(
      toolSet.tools.names().filter((n) => n !== MARK_TASK_COMPLETE && toolSet.toolSources[n] !== undefined),
    );
    const dir = await mkdtemp(join(tmpdir(), 'marshal-serve-'));
    temp.push(dir);
    const serve = await mcpServeCommand(settings, dir);
    return createClaudeCodeModel({
      binary: settings.claudeBinary,
      env,
      cwd: settings.workspace,
      maxTurns: settings.maxIterations,
      timeoutMs: settings.agentTimeoutMs ?? settings.timeoutMs,
      servedTools: served,
      serve,
    });
  }
  checkSetting('baseUrl', spec.baseUrl);
  const apiKey = resolveApiKey(env, { baseUrl: spec.baseUrl, keyEnv: spec.apiKeyEnv });
  if (apiKey !== undefined && !keys.includes(apiKey)) keys.push(apiKey);
  // The variable the key came from, for the message of a 401/403 (first candidate holding it).
  const apiKeyEnv = [spec.apiKeyEnv, 'OPENROUTER_API_KEY', 'OPENAI_API_KEY'].find(
    (name) => name !== undefined && apiKey !== undefined && env[name]?.trim() === apiKey,
  );
  return createOpenAICompatibleModel({
    baseUrl: spec.baseUrl,
    apiKey,
    ...(apiKeyEnv === undefined ? {} : { apiKeyEnv }),
    retries: settings.retries,
    timeoutMs: settings.requestTimeoutMs,
    maxConcurrency: settings.concurrency,
    stream: settings.stream,
  });
}

/**
 * How Claude Code starts `marshal mcp serve` with this run's tool settings: they go into a
 * config file (explicit, so trusted) in `dir`, with absolute paths.
 */
export async function mcpServeCommand(settings: AgentSettings, dir: string): Promise<McpServeCommand> {
  const file = join(dir, 'tools.json');
  const tools = {
    workspace: settings.workspace,
    ...(settings.toolsDir === undefined ? {} : { dir: settings.toolsDir }),
    allowWrite: settings.allowWrite,
    allowSecretFiles: settings.allowSecretFiles,
    ...(settings.search === undefined ? {} : { search: settings.search }),
  };
  // The run's MCP servers (already through the trust policy), their working directories made
  // absolute: relative ones meant the original config's directory, not this temporary one.
  const servers = Object.fromEntries(
    Object.entries(settings.mcpServers).map(([name, server]) => [
      name,
      server.command === undefined
        ? server
        : { ...server, cwd: resolve(settings.configDir, server.cwd ?? '.') },
    ]),
  );
  const config = Object.keys(servers).length === 0 ? { tools } : { tools, mcp: { servers } };
  await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  const proxy = Object.keys(servers).length === 0 ? [] : ['--proxy-mcp'];
  return { command: process.execPath, args: [MARSHAL_BIN, 'mcp', 'serve', '-c', file, ...proxy] };
}
