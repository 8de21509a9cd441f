/**
 * `marshal.yaml`: the agents' config file. The schema (strict: unknown keys are errors), loading
 * through the core config loader, and merging with command-line flags (flags win). The API key is
 * never in here: only the NAME of the variable holding it (`provider.apiKeyEnv`).
 */
import { stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { loadConfigFile } from '../core/config.ts';
import { InvalidInputError } from '../core/errors.ts';
import { COMBINE_STRATEGIES, type CombineStrategy, isCombineStrategy } from './combine/index.ts';
import { type HeavyPrompts, placeholdersOf, REQUIRED_PLACEHOLDERS, resolvePrompts } from './prompts.ts';
import { DEFAULT_BASE_URL, DEFAULT_MODEL } from './providers/openai-compatible.ts';

const seconds = z.number().positive().max(86_400);
const temperature = z.number().min(0).max(2);
const modelId = z.string().min(1);

function template(kind: keyof HeavyPrompts) {
  const groups = REQUIRED_PLACEHOLDERS[kind];
  const names = groups.map((g) => `{${g[0]}}`).join(', ');
  return z
    .string()
    .min(1)
    .refine(
      (text) => {
        const used = placeholdersOf(text);
        return groups.every((g) => g.some((name) => used.has(name)));
      },
      { message: `the ${kind} prompt must keep the placeholders ${names}` },
    )
    .describe(groups.length > 0 ? `template; must keep ${names}` : 'system prompt of every agent');
}

/** The JSON-serialisable schema of `marshal.yaml` (`marshal config schema marshal` prints it). */
export const marshalConfigSchema = z.strictObject({
  provider: z
    .strictObject({
      baseUrl: z.url().optional().describe(`OpenAI-compatible endpoint; default ${DEFAULT_BASE_URL}`),
      model: modelId.optional().describe(`model id; default ${DEFAULT_MODEL}`),
      apiKeyEnv: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable NAME such as MY_API_KEY')
        .optional()
        .describe('NAME of the environment variable holding the API key (never the key itself)'),
      retries: z.int().min(0).max(10).optional().describe('retries on 429/5xx/connection errors; default 3'),
      requestTimeout: seconds.optional().describe('bound on each HTTP request, seconds'),
    })
    .optional(),
  agent: z
    .strictObject({
      maxIterations: z.int().min(1).max(100).optional().describe('chat calls per agent; default 10'),
      temperature: temperature.optional(),
    })
    .optional(),
  heavy: z
    .strictObject({
      agents: z.int().min(1).max(64).optional().describe('number of agents; default 4'),
      strategy: z
        .enum(COMBINE_STRATEGIES)
        .optional()
        .describe('how answers are combined; default synthesize'),
      timeout: seconds.optional().describe('deadline of the whole run, seconds; default 300'),
      agentTimeout: seconds.optional().describe('deadline of each agent, seconds'),
      combineTimeout: seconds.optional().describe('minimum time for the combine step, seconds'),
      concurrency: z.int().min(1).max(64).optional().describe('agents running at once; default all'),
      decomposeModel: modelId.optional().describe('model for the decomposition call'),
      combineModel: modelId.optional().describe('model for synthesis / judge calls'),
      perAgent: z
        .array(
          z.strictObject({
            model: modelId.optional(),
            temperature: temperature.optional(),
            systemPrompt: z.string().min(1).optional(),
          }),
        )
        .max(64)
        .optional()
        .describe('overrides for agent 1, 2, ... in order'),
    })
    .optional(),
  tools: z
    .strictObject({
      workspace: z.string().min(1).optional().describe('root of the file tools (relative to this file)'),
      dir: z.string().min(1).optional().describe('directory of extra tools (relative to this file)'),
      search: z
        .strictObject({
          endpoint: z.url().optional().describe('search endpoint for search_web'),
          maxResults: z.int().min(1).max(20).optional(),
        })
        .optional(),
    })
    .optional(),
  prompts: z
    .strictObject({
      system: template('system').optional(),
      decompose: template('decompose').optional(),
      synthesize: template('synthesize').optional(),
      judge: template('judge').optional(),
      debate: template('debate').optional(),
    })
    .optional(),
  output: z
    .strictObject({
      json: z.boolean().optional().describe('print one JSON document instead of text'),
      trace: z.string().min(1).optional().describe('JSONL trace file (relative to this file)'),
    })
    .optional(),
});

export type MarshalConfig = z.output<typeof marshalConfigSchema>;

/** A loaded config and where it came from (`path` undefined when no file was used). */
export interface LoadedConfig {
  config: MarshalConfig;
  path: string | undefined;
}

/**
 * Loads the config: `configPath` (relative to `cwd`) when given, which must exist; else
 * `./marshal.yaml` in `cwd` when present; else an empty config. Errors are E_CONFIG naming the
 * file, line, key path and value.
 */
export async function loadMarshalConfig(options: {
  configPath?: string | undefined;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
}): Promise<LoadedConfig> {
  const explicit = options.configPath !== undefined;
  const path = resolve(options.cwd, options.configPath ?? 'marshal.yaml');
  if (!explicit && !(await isFile(path))) return { config: {}, path: undefined };
  return { config: await loadConfigFile(path, marshalConfigSchema, { env: options.env }), path };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/** Command-line values, already parsed (seconds as numbers). Undefined means "not given". */
export interface SettingFlags {
  model?: string | undefined;
  baseUrl?: string | undefined;
  agents?: number | undefined;
  strategy?: string | undefined;
  timeoutS?: number | undefined;
  agentTimeoutS?: number | undefined;
  maxIterations?: number | undefined;
  workspace?: string | undefined;
  toolsDir?: string | undefined;
  json?: boolean | undefined;
  trace?: string | undefined;
}

/** Every setting of `heavy` / `ask` after merging defaults, the config file and flags. */
export interface AgentSettings {
  baseUrl: string;
  model: string;
  apiKeyEnv: string | undefined;
  retries: number;
  requestTimeoutMs: number | undefined;
  agents: number;
  strategy: CombineStrategy;
  timeoutMs: number;
  agentTimeoutMs: number | undefined;
  combineTimeoutMs: number | undefined;
  concurrency: number | undefined;
  maxIterations: number;
  temperature: number | undefined;
  decomposeModel: string | undefined;
  combineModel: string | undefined;
  perAgent: NonNullable<NonNullable<MarshalConfig['heavy']>['perAgent']>;
  /** Absolute. */
  workspace: string;
  /** Absolute. */
  toolsDir: string | undefined;
  search: { endpoint?: string | undefined; maxResults?: number | undefined } | undefined;
  prompts: HeavyPrompts;
  json: boolean;
  /** Absolute. */
  trace: string | undefined;
}

const ms = (s: number | undefined) => (s === undefined ? undefined : Math.round(s * 1000));

/**
 * Merges flags over the config over the defaults. Paths from flags resolve against `cwd`, paths
 * from the config file against its directory. Pure.
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
  const strategy = flags.strategy ?? c.heavy?.strategy ?? 'synthesize';
  if (!isCombineStrategy(strategy)) {
    throw new InvalidInputError('--strategy', strategy, `expected one of ${COMBINE_STRATEGIES.join(', ')}`);
  }
  return {
    baseUrl: flags.baseUrl ?? c.provider?.baseUrl ?? DEFAULT_BASE_URL,
    model: flags.model ?? c.provider?.model ?? DEFAULT_MODEL,
    apiKeyEnv: c.provider?.apiKeyEnv,
    retries: c.provider?.retries ?? 3,
    requestTimeoutMs: ms(c.provider?.requestTimeout),
    agents: flags.agents ?? c.heavy?.agents ?? 4,
    strategy,
    timeoutMs: ms(flags.timeoutS ?? c.heavy?.timeout ?? 300)!,
    agentTimeoutMs: ms(flags.agentTimeoutS ?? c.heavy?.agentTimeout),
    combineTimeoutMs: ms(c.heavy?.combineTimeout),
    concurrency: c.heavy?.concurrency,
    maxIterations: flags.maxIterations ?? c.agent?.maxIterations ?? 10,
    temperature: c.agent?.temperature,
    decomposeModel: c.heavy?.decomposeModel,
    combineModel: c.heavy?.combineModel,
    perAgent: c.heavy?.perAgent ?? [],
    workspace: path(flags.workspace, c.tools?.workspace) ?? cwd,
    toolsDir: path(flags.toolsDir, c.tools?.dir),
    search: c.tools?.search,
    prompts: resolvePrompts(c.prompts),
    json: flags.json ?? c.output?.json ?? false,
    trace: path(flags.trace, c.output?.trace),
  };
}
