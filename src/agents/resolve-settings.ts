/**
 * Merging caller values (the CLI's flags) over the config over the defaults of the settings table
 * into the {@link AgentSettings} of a run. Errors name the setting (`strategy`, `workspace`) for a
 * caller value and the key path (`tools.workspace`) for a config value; the CLI maps setting names
 * to its flags.
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { InvalidInputError } from '../core/errors.ts';
import type { CombineStrategy } from './combine/index.ts';
import type { LoadedConfig } from './config.ts';
import type { MarshalConfig, McpServerConfig, ProviderKind } from './marshal-config.ts';
import type { ReasoningEffort } from './model.ts';
import { type HeavyPrompts, resolvePrompts } from './prompts.ts';
import { checkSetting, SETTINGS } from './settings.ts';

/** Caller values (seconds as numbers). Undefined means "not given". */
export interface SettingFlags {
  provider?: ProviderKind | undefined;
  model?: string | undefined;
  /** provider local: a .gguf path (against cwd) or a model URI. */
  modelFile?: string | undefined;
  baseUrl?: string | undefined;
  agents?: number | undefined;
  strategy?: string | undefined;
  timeoutS?: number | undefined;
  agentTimeoutS?: number | undefined;
  decomposeTimeoutS?: number | undefined;
  requestTimeoutS?: number | undefined;
  concurrency?: number | undefined;
  maxIterations?: number | undefined;
  maxTokens?: number | undefined;
  reasoningEffort?: ReasoningEffort | undefined;
  workspace?: string | undefined;
  toolsDir?: string | undefined;
  apiKeyEnv?: string | undefined;
  allowWrite?: boolean | undefined;
  allowSecretFiles?: boolean | undefined;
  json?: boolean | undefined;
  trace?: string | undefined;
  traceAppend?: boolean | undefined;
  /** Stream replies (SSE). */
  stream?: boolean | undefined;
  /** Budgets of the run: USD, tokens. */
  maxCost?: number | undefined;
  maxTokensTotal?: number | undefined;
}

/** Every setting of `heavy` / `ask` after merging defaults, the config file and caller values. */
export interface AgentSettings {
  /** The provider of the agents (per-agent entries may name another). */
  provider: ProviderKind;
  /** The Claude Code executable for `claude-code` (PATH searched), default `claude`. */
  claudeBinary: string | undefined;
  /** provider local: the .gguf path (absolute) or model URI. */
  modelFile: string | undefined;
  /** provider local: CPU threads (undefined: the engine's default). */
  threads?: number | undefined;
  /** `mcp.servers` of the config (dropped from an untrusted one); their `cwd` default is `configDir`. */
  mcpServers: Record<string, McpServerConfig>;
  /** Directory of the config file (cwd without one): where relative MCP paths resolve. */
  configDir: string;
  baseUrl: string;
  model: string;
  apiKeyEnv: string | undefined;
  retries: number;
  requestTimeoutMs: number;
  agents: number;
  strategy: CombineStrategy;
  timeoutMs: number;
  agentTimeoutMs: number | undefined;
  combineTimeoutMs: number | undefined;
  decomposeTimeoutMs: number | undefined;
  concurrency: number | undefined;
  contextTokens: number;
  maxIterations: number;
  temperature: number | undefined;
  maxTokens: number | undefined;
  reasoningEffort: ReasoningEffort | undefined;
  decomposeModel: string | undefined;
  combineModel: string | undefined;
  perAgent: NonNullable<NonNullable<MarshalConfig['heavy']>['perAgent']>;
  /** Absolute. */
  workspace: string;
  /** Where the workspace came from: the setting name or the config key path (for errors). */
  workspaceField: string;
  /** Absolute. */
  toolsDir: string | undefined;
  /** write_file is offered. */
  allowWrite: boolean;
  /** read_file may read protected (secret) files. */
  allowSecretFiles: boolean;
  search: { endpoint?: string | undefined; maxResults?: number | undefined } | undefined;
  prompts: HeavyPrompts;
  json: boolean;
  /** Absolute. */
  trace: string | undefined;
  /** Add to the trace file instead of starting a new one. */
  traceAppend: boolean;
  /** Stream replies (SSE) and hand their pieces to the events. */
  stream: boolean;
  /** Budgets of a run (undefined: none) and the share kept for the combine step. */
  maxCostUsd: number | undefined;
  maxTokensTotal: number | undefined;
  budgetReserve: number;
}

/** The model of `provider: claude-code` when none is given (a Claude Code alias). */
export const CLAUDE_CODE_DEFAULT_MODEL = 'sonnet';

/** A model URI node-llama-cpp downloads (as providers/local.ts isModelUri). */
const MODEL_URI = /^(hf:|huggingface:|https?:\/\/)/i;

const ms = (s: number | undefined) => (s === undefined ? undefined : Math.round(s * 1000));

/**
 * Merges caller values over the config over the defaults. Paths from the caller resolve against
 * `cwd`, paths from the config file against its directory. Pure.
 */
export function resolveSettings(flags: SettingFlags, loaded: LoadedConfig, cwd: string): AgentSettings {
  const c = loaded.config;
  const base = loaded.path ? dirname(loaded.path) : cwd;
  const path = (flag: string | undefined, fromConfig: string | undefined) =>
    flag !== undefined
      ? resolve(cwd, flag)
      : fromConfig !== undefined
        ? resolve(base, fromConfig)
        : undefined;
  const strategy =
    flags.strategy !== undefined
      ? checkSetting('strategy', flags.strategy)
      : (c.heavy?.strategy ?? SETTINGS.strategy.default);
  const provider = flags.provider ?? c.provider?.kind ?? SETTINGS.provider.default;
  return {
    provider,
    claudeBinary: c.provider?.claudeBinary,
    // A model URI stays as it is; a path resolves against cwd (flag) or the config's directory.
    modelFile: MODEL_URI.test(flags.modelFile ?? c.provider?.modelFile ?? '')
      ? (flags.modelFile ?? c.provider?.modelFile)
      : path(flags.modelFile, c.provider?.modelFile),
    threads: c.provider?.threads,
    mcpServers: c.mcp?.servers ?? {},
    configDir: base,
    baseUrl: flags.baseUrl ?? c.provider?.baseUrl ?? SETTINGS.baseUrl.default,
    // Claude Code knows its own model aliases; the HTTP default would mean nothing to it.
    model:
      flags.model ??
      c.provider?.model ??
      (provider === 'claude-code' ? CLAUDE_CODE_DEFAULT_MODEL : SETTINGS.model.default),
    apiKeyEnv: flags.apiKeyEnv ?? c.provider?.apiKeyEnv,
    retries: c.provider?.retries ?? SETTINGS.retries.default,
    requestTimeoutMs: ms(
      flags.requestTimeoutS ?? c.provider?.requestTimeout ?? SETTINGS.requestTimeout.default,
    )!,
    agents: flags.agents ?? c.heavy?.agents ?? SETTINGS.agents.default,
    strategy,
    timeoutMs: ms(flags.timeoutS ?? c.heavy?.timeout ?? SETTINGS.timeout.default)!,
    agentTimeoutMs: ms(flags.agentTimeoutS ?? c.heavy?.agentTimeout),
    combineTimeoutMs: ms(c.heavy?.combineTimeout),
    decomposeTimeoutMs: ms(flags.decomposeTimeoutS ?? c.heavy?.decomposeTimeout),
    concurrency: flags.concurrency ?? c.provider?.concurrency ?? c.heavy?.concurrency,
    contextTokens: c.provider?.contextTokens ?? SETTINGS.contextTokens.default,
    maxIterations: flags.maxIterations ?? c.agent?.maxIterations ?? SETTINGS.maxIterations.default,
    temperature: c.agent?.temperature,
    maxTokens: flags.maxTokens ?? c.agent?.maxTokens,
    reasoningEffort: flags.reasoningEffort ?? c.agent?.reasoningEffort,
    decomposeModel: c.heavy?.decomposeModel,
    combineModel: c.heavy?.combineModel,
    perAgent: c.heavy?.perAgent ?? [],
    workspace: path(flags.workspace, c.tools?.workspace) ?? cwd,
    workspaceField:
      flags.workspace === undefined && c.tools?.workspace !== undefined ? 'tools.workspace' : 'workspace',
    toolsDir: path(flags.toolsDir, c.tools?.dir),
    allowWrite: flags.allowWrite ?? c.tools?.allowWrite ?? SETTINGS.allowWrite.default,
    allowSecretFiles:
      flags.allowSecretFiles ?? c.tools?.allowSecretFiles ?? SETTINGS.allowSecretFiles.default,
    search: c.tools?.search,
    prompts: resolvePrompts(c.prompts),
    json: flags.json ?? c.output?.json ?? false,
    trace: path(flags.trace, c.output?.trace),
    traceAppend: flags.traceAppend ?? c.output?.traceAppend ?? false,
    stream: flags.stream ?? SETTINGS.stream.default,
    // A flag replaces the config's budget of the same kind; the other kind still applies.
    maxCostUsd: flags.maxCost === undefined ? c.budget?.maxCost : checkSetting('maxCost', flags.maxCost),
    maxTokensTotal:
      flags.maxTokensTotal === undefined
        ? c.budget?.maxTokensTotal
        : checkSetting('maxTokensTotal', flags.maxTokensTotal),
    budgetReserve: c.budget?.reserve ?? SETTINGS.budgetReserve.default,
  };
}

/** Checks what needs the file system: the workspace must be an existing directory (E_INVALID_INPUT). */
export async function checkWorkspace(settings: AgentSettings): Promise<void> {
  const ws = await stat(settings.workspace).catch(() => undefined);
  if (!ws?.isDirectory()) {
    throw new InvalidInputError(
      settings.workspaceField,
      settings.workspace,
      'expected an existing directory',
    );
  }
}
