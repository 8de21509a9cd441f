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
import type { MarshalConfig } from './marshal-config.ts';
import type { ReasoningEffort } from './model.ts';
import { type HeavyPrompts, resolvePrompts } from './prompts.ts';
import { checkSetting, SETTINGS } from './settings.ts';

/** Caller values (seconds as numbers). Undefined means "not given". */
export interface SettingFlags {
  model?: string | undefined;
  baseUrl?: string | undefined;
  agents?: number | undefined;
  strategy?: string | undefined;
  timeoutS?: number | undefined;
  agentTimeoutS?: number | undefined;
  decomposeTimeoutS?: number | undefined;
  requestTimeoutS?: number | undefined;
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
}

/** Every setting of `heavy` / `ask` after merging defaults, the config file and caller values. */
export interface AgentSettings {
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
}

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
  return {
    baseUrl: flags.baseUrl ?? c.provider?.baseUrl ?? SETTINGS.baseUrl.default,
    model: flags.model ?? c.provider?.model ?? SETTINGS.model.default,
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
    concurrency: c.heavy?.concurrency,
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
