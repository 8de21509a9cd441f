/**
 * Every setting of `heavy` / `ask`, written once: its zod schema (type and bounds), its default
 * and its help text. The marshal.yaml schema, the library's option checks, the CLI's flag parsing
 * and `--help` all derive from this table, so a default or a bound cannot drift between them.
 * Names are setting names (`agents`, `requestTimeout`), never CLI flags: the CLI maps them.
 */
import { z } from 'zod';
import { InvalidInputError } from '../core/errors.ts';
import { COMBINE_STRATEGIES, DEFAULT_CONTEXT_TOKENS } from './combine/index.ts';
import { DEFAULT_BASE_URL, DEFAULT_MODEL } from './providers/api-key.ts';

/** One setting: schema (bounds included), default when it has one, help text, unit of numbers. */
export interface SettingSpec<S extends z.ZodType = z.ZodType> {
  schema: S;
  default?: z.output<S>;
  help: string;
  unit?: 'seconds';
}

/** URL schemes the provider and the search tool accept. */
export const URL_SCHEMES = ['http:', 'https:'] as const;

/** True for an absolute http(s) URL; `file:`, `ftp:`, `javascript:`, `data:` ... are refused. */
export function isHttpUrl(value: string): boolean {
  try {
    return (URL_SCHEMES as readonly string[]).includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

const seconds = z.number().min(0.001).max(86_400);
const httpUrl = z.string().refine(isHttpUrl, { message: 'expected an http or https URL' });

/** The chat-model providers: the OpenAI-compatible HTTP endpoint, or the Claude Code CLI. */
export const PROVIDER_KINDS = ['openai-compatible', 'claude-code', 'local'] as const;

/** The settings table. */
export const SETTINGS = {
  provider: {
    schema: z.enum(PROVIDER_KINDS),
    default: 'openai-compatible',
    help: 'openai-compatible (HTTP endpoint), claude-code (the `claude` CLI; its tools come from `marshal mcp serve`) or local (a GGUF model in-process through node-llama-cpp, --model-file)',
  },
  modelFile: {
    schema: z.string().min(1),
    help: 'provider local: the GGUF model, a file path or a model URI (hf:user/repo/file.gguf, fetched on first use only when given)',
  },
  threads: {
    schema: z.int().min(1).max(1024),
    help: "provider local: CPU threads for generation; default the engine's (all cores)",
  },
  model: { schema: z.string().min(1), default: DEFAULT_MODEL, help: 'model id' },
  baseUrl: {
    schema: httpUrl,
    default: DEFAULT_BASE_URL,
    help: 'OpenAI-compatible endpoint (http or https)',
  },
  retries: {
    schema: z.int().min(0).max(10),
    default: 3,
    help: 'retries of an LLM request on 408/5xx/connection errors/request timeouts (429s: twice as many)',
  },
  requestTimeout: {
    schema: seconds,
    default: 120,
    unit: 'seconds',
    help: 'bound on each LLM request (a timed-out one is retried)',
  },
  agents: { schema: z.int().min(1).max(64), default: 4, help: 'number of agents' },
  strategy: {
    schema: z.enum(COMBINE_STRATEGIES),
    default: 'synthesize',
    help: `how answers are combined: ${COMBINE_STRATEGIES.join(', ')}`,
  },
  timeout: { schema: seconds, default: 300, unit: 'seconds', help: 'deadline of the whole run' },
  agentTimeout: { schema: seconds, unit: 'seconds', help: 'deadline of each agent, from its start' },
  combineTimeout: {
    schema: seconds,
    unit: 'seconds',
    help: 'minimum time of the combine step; default min(30 s, 10% of timeout)',
  },
  concurrency: {
    schema: z.int().min(1).max(1024),
    help: 'most LLM requests in flight per endpoint (shared by every agent and step); the limiter also lowers it on 429s and raises it again; default no cap',
  },
  maxIterations: { schema: z.int().min(1).max(100), default: 10, help: 'chat calls per agent' },
  contextTokens: {
    schema: z.int().min(1000).max(10_000_000),
    default: DEFAULT_CONTEXT_TOKENS,
    help: "the combining model's context in tokens: each answer in a combining prompt is cut to its share of 3/4 of it (about 4 characters a token), with a note",
  },
  temperature: { schema: z.number().min(0).max(2), help: 'sampling temperature' },
  maxTokens: {
    schema: z.int().min(1).max(1_000_000),
    help: "bound on each reply's tokens (max_tokens); a reply cut there is status truncated; default the endpoint's",
  },
  reasoningEffort: {
    schema: z.enum(['low', 'medium', 'high']),
    help: 'reasoning effort of reasoning models: reasoning.effort on OpenRouter, reasoning_effort elsewhere; default not sent',
  },
  decomposeTimeout: {
    schema: seconds,
    unit: 'seconds',
    help: 'bound on the decomposition (then the fallback angles are used); default 20% of timeout, at least 30 s (never past the run)',
  },
  apiKeyEnv: {
    schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/),
    help: 'NAME of the environment variable holding the key for this endpoint (never the key itself)',
  },
  allowWrite: {
    schema: z.boolean(),
    default: false,
    help: 'offer the write_file tool (never under .git/, never over protected files)',
  },
  allowSecretFiles: {
    schema: z.boolean(),
    default: false,
    help: 'let read_file read protected files (.env*, *.pem, *.key, id_*, .npmrc, ...)',
  },
  stream: {
    schema: z.boolean(),
    default: false,
    help: 'stream replies (SSE): the final answer appears on stdout as it is written, the live view shows each agent writing; on by default when stdout is a terminal',
  },
  maxCost: {
    schema: z.number().min(0.000001).max(1_000_000),
    help: 'budget of the run in USD (from the usage cost the endpoint reports): once reached, no new calls start, running ones are cancelled, and the combine step runs over what finished within the reserve',
  },
  maxTokensTotal: {
    schema: z.int().min(1).max(1_000_000_000),
    help: 'budget of the run in tokens (prompt + completion of every call): as --max-cost',
  },
  budgetReserve: {
    schema: z.number().min(0).max(0.9),
    default: 0.1,
    help: 'share of a budget kept for the combine step: the agents stop at (1 - reserve) of it, and the combine reply gets the rest of a token budget as max_tokens',
  },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

/** Help text with the default and unit: `deadline of the whole run, seconds; default 300`. */
export function settingHelp(name: SettingName): string {
  const spec: SettingSpec = SETTINGS[name];
  const unit = spec.unit ? `, ${spec.unit}` : '';
  return spec.default === undefined ? `${spec.help}${unit}` : `${spec.help}${unit}; default ${spec.default}`;
}

/** The default of `name` as text for help ("300"), or undefined. */
export function settingDefaultText(name: SettingName): string | undefined {
  const spec: SettingSpec = SETTINGS[name];
  return spec.default === undefined ? undefined : String(spec.default);
}

/** Numeric bounds of `name` (for parsing a number before validating it). */
export function settingBounds(name: SettingName): { min?: number; max?: number; integer?: boolean } {
  const schema = SETTINGS[name].schema as unknown as {
    minValue?: number | null;
    maxValue?: number | null;
    isInt?: boolean;
  };
  const bounds: { min?: number; max?: number; integer?: boolean } = {};
  if (typeof schema.minValue === 'number') bounds.min = schema.minValue;
  if (typeof schema.maxValue === 'number') bounds.max = schema.maxValue;
  if (schema.isInt === true) bounds.integer = true;
  return bounds;
}

/** What `name` expects, for error messages: "an integer from 1 to 64". */
export function settingExpectation(name: SettingName): string {
  const { min, max, integer } = settingBounds(name);
  if (min === undefined && max === undefined) {
    const schema = SETTINGS[name].schema as unknown as { options?: readonly string[] };
    if (Array.isArray(schema.options)) return `one of ${schema.options.join(', ')}`;
    return name === 'baseUrl' ? 'an http or https URL' : 'a valid value';
  }
  return `${integer ? 'an integer' : 'a number'} from ${min} to ${max}`;
}

/**
 * Validates `value` against setting `name` and returns it; throws E_INVALID_INPUT naming the
 * setting (or `field`, e.g. a config key) and the value.
 */
export function checkSetting<N extends SettingName>(
  name: N,
  value: unknown,
  field: string = name,
): z.output<(typeof SETTINGS)[N]['schema']> {
  const result = SETTINGS[name].schema.safeParse(value);
  if (!result.success) throw new InvalidInputError(field, value, `expected ${settingExpectation(name)}`);
  return result.data as z.output<(typeof SETTINGS)[N]['schema']>;
}

/** `SETTINGS[name].schema`, optional, described with its help and default (for marshal.yaml). */
export function configField<N extends SettingName>(name: N): z.ZodOptional<(typeof SETTINGS)[N]['schema']> {
  const schema = SETTINGS[name].schema as (typeof SETTINGS)[N]['schema'];
  return z.optional(schema).describe(settingHelp(name)) as z.ZodOptional<(typeof SETTINGS)[N]['schema']>;
}
