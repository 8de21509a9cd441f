/**
 * What `marshal heavy` and `marshal ask` share on the CLI side: their options (help text, defaults
 * and bounds derived from the agents' settings table), turning flags into setting values, mapping
 * setting names in library errors back to flags, the untrusted-config notice, and the event sinks.
 * Loading settings and building the runtime are library calls (`loadAgentSettings`,
 * `createAgentRuntime`).
 */
import {
  type AgentSettings,
  checkSetting,
  createTraceSink,
  type EventSink,
  isHttpUrl,
  type LoadedAgentSettings,
  type LoadedConfig,
  loadAgentSettings,
  redactUrl,
  SETTINGS,
  type SettingName,
  settingBounds,
  settingDefaultText,
  type TraceSink,
  urlSecrets,
} from '../agents/index.ts';
import {
  CORE_ERRORS,
  quoteShellWord,
  sanitizeForLog,
  sanitizeForTerminal,
  UsageError,
} from '../core/index.ts';
import { type CommandContext, numberOption, type OptionSpec, stringOption } from './command.ts';
import { styler, useColor } from './io.ts';
import { createHeavyView, type HeavyView } from './render/heavy-view.ts';
import { withFlagNames as renameSettings } from './setting-flags.ts';

/** Setting name -> the flag that sets it. */
const FLAG_OF: Partial<Record<string, string>> = {
  provider: 'provider',
  model: 'model',
  modelFile: 'model-file',
  baseUrl: 'base-url',
  agents: 'agents',
  strategy: 'strategy',
  timeout: 'timeout',
  agentTimeout: 'agent-timeout',
  requestTimeout: 'request-timeout',
  concurrency: 'concurrency',
  maxIterations: 'max-iterations',
  maxTokens: 'max-tokens',
  reasoningEffort: 'reasoning-effort',
  decomposeTimeout: 'decompose-timeout',
  maxCost: 'max-cost',
  maxTokensTotal: 'max-tokens-total',
  workspace: 'workspace',
};

function settingOption(name: SettingName, valueName: string, short?: string): OptionSpec {
  const defaultText = settingDefaultText(name);
  return {
    type: 'string',
    valueName,
    ...(short ? { short } : {}),
    description: SETTINGS[name].help,
    ...(defaultText === undefined ? {} : { defaultText }),
  };
}

/** Options of both commands (`heavy` adds -n and --strategy). */
export const AGENT_OPTIONS: Record<string, OptionSpec> = {
  config: {
    type: 'string',
    short: 'c',
    valueName: 'file',
    description: 'config file (trusted; a found ./marshal.yaml needs `marshal trust`)',
    defaultText: './marshal.yaml when present',
  },
  model: settingOption('model', 'id'),
  'model-file': settingOption('modelFile', 'path.gguf|hf:URI'),
  provider: settingOption('provider', 'name'),
  'base-url': settingOption('baseUrl', 'url'),
  timeout: settingOption('timeout', 'seconds'),
  'agent-timeout': settingOption('agentTimeout', 'seconds'),
  'request-timeout': settingOption('requestTimeout', 'seconds'),
  concurrency: settingOption('concurrency', 'N'),
  'max-iterations': settingOption('maxIterations', 'n'),
  'max-tokens': settingOption('maxTokens', 'n'),
  'reasoning-effort': settingOption('reasoningEffort', 'low|medium|high'),
  workspace: {
    type: 'string',
    valueName: 'dir',
    description: 'root of the file tools',
    defaultText: 'current directory',
  },
  'tools-dir': {
    type: 'string',
    valueName: 'dir',
    description: 'directory of extra tools (.js/.mjs modules)',
  },
  'api-key-env': {
    type: 'string',
    valueName: 'NAME',
    description: SETTINGS.apiKeyEnv.help,
    defaultText: 'OPENROUTER_API_KEY for openrouter.ai, OPENAI_API_KEY for api.openai.com',
  },
  'allow-write': { type: 'boolean', description: SETTINGS.allowWrite.help, defaultText: 'off' },
  'allow-secret-files': { type: 'boolean', description: SETTINGS.allowSecretFiles.help, defaultText: 'off' },
  json: { type: 'boolean', description: 'print one JSON document on stdout' },
  stream: {
    type: 'boolean',
    description: 'stream the final answer to stdout as it is written (SSE from the endpoint)',
    defaultText: 'on when stdout is a terminal (and without --json)',
  },
  trace: {
    type: 'string',
    valueName: 'file.jsonl',
    description:
      'write the whole run as JSON lines (run id, every request, reply, tool call and result, combine input, answer; secrets redacted); a new file each run',
  },
  'trace-append': {
    type: 'boolean',
    description: 'add this run to the --trace file instead of starting a new one',
    defaultText: 'off',
  },
};

/** The budget flags of heavy and ask (also `budget:` in marshal.yaml). */
export const BUDGET_OPTIONS: Record<string, OptionSpec> = {
  'max-cost': settingOption('maxCost', 'usd'),
  'max-tokens-total': settingOption('maxTokensTotal', 'n'),
};

export const HEAVY_OPTIONS: Record<string, OptionSpec> = {
  agents: {
    ...settingOption('agents', 'N', 'n'),
    description: `number of agents (${settingBounds('agents').min}-${settingBounds('agents').max})`,
  },
  strategy: settingOption('strategy', 'name'),
  'decompose-timeout': settingOption('decomposeTimeout', 'seconds'),
  ...BUDGET_OPTIONS,
  ...AGENT_OPTIONS,
};

/** Exit codes both commands document. */
export const AGENT_EXIT_CODES: Array<[number, string]> = [
  [0, 'an answer was produced'],
  [1, 'runtime failure'],
  [
    2,
    'usage or config error (including a missing API key for OpenRouter), or the endpoint refused the key or the model (after its first reply)',
  ],
  [3, 'no agent produced an answer, not even partial text'],
  [130, 'interrupted (prints what finished)'],
];

function numberFlag(ctx: CommandContext, name: SettingName): number | undefined {
  const flag = FLAG_OF[name]!;
  return numberOption(ctx.values, flag, settingBounds(name));
}

/**
 * A library error about a setting, renamed for the command line: `agents: expected ...` becomes
 * `--agents: expected ...`. Other errors pass through.
 */
export function withFlagNames(error: unknown): unknown {
  return renameSettings(error, (setting) => {
    const flag = FLAG_OF[setting];
    return flag === undefined ? undefined : `--${flag}`;
  });
}

/** Reads flags, loads marshal.yaml (with its trust policy) and merges them (flags win). */
export async function loadSettings(ctx: CommandContext): Promise<LoadedAgentSettings> {
  const v = ctx.values;
  const baseUrl = stringOption(v, 'base-url');
  if (baseUrl !== undefined && !isHttpUrl(baseUrl)) {
    const shown = redactUrl(baseUrl);
    throw new UsageError(`--base-url must be an http or https URL, got ${JSON.stringify(shown)}`, {
      code: CORE_ERRORS.E_INVALID_INPUT,
      details: { field: '--base-url', value: shown },
    });
  }
  try {
    const strategy = stringOption(v, 'strategy');
    const provider = stringOption(v, 'provider');
    const effort = stringOption(v, 'reasoning-effort');
    const loaded = await loadAgentSettings({
      flags: {
        provider: provider === undefined ? undefined : checkSetting('provider', provider),
        model: stringOption(v, 'model'),
        modelFile: stringOption(v, 'model-file'),
        baseUrl,
        agents: numberFlag(ctx, 'agents'),
        strategy: strategy === undefined ? undefined : checkSetting('strategy', strategy),
        timeoutS: numberFlag(ctx, 'timeout'),
        agentTimeoutS: numberFlag(ctx, 'agentTimeout'),
        requestTimeoutS: numberFlag(ctx, 'requestTimeout'),
        concurrency: numberFlag(ctx, 'concurrency'),
        maxIterations: numberFlag(ctx, 'maxIterations'),
        maxTokens: numberFlag(ctx, 'maxTokens'),
        reasoningEffort: effort === undefined ? undefined : checkSetting('reasoningEffort', effort),
        decomposeTimeoutS: numberFlag(ctx, 'decomposeTimeout'),
        workspace: stringOption(v, 'workspace'),
        toolsDir: stringOption(v, 'tools-dir'),
        apiKeyEnv: stringOption(v, 'api-key-env'),
        allowWrite: v['allow-write'] === true ? true : undefined,
        allowSecretFiles: v['allow-secret-files'] === true ? true : undefined,
        json: v.json === true ? true : undefined,
        // Streamed replies feed the answer on stdout and the live view's per-agent progress.
        stream: wantsStream(ctx) ? true : undefined,
        maxCost: v['max-cost'] === undefined ? undefined : numberFlag(ctx, 'maxCost'),
        maxTokensTotal: v['max-tokens-total'] === undefined ? undefined : numberFlag(ctx, 'maxTokensTotal'),
        trace: stringOption(v, 'trace'),
        traceAppend: v['trace-append'] === true ? true : undefined,
      },
      configPath: stringOption(v, 'config'),
      cwd: ctx.io.cwd,
      env: ctx.io.env,
    });
    reportUntrusted(ctx, loaded.config);
    return loaded;
  } catch (error) {
    throw withFlagNames(error);
  }
}

/** `--stream`, or (without --json) stdout a terminal for the answer or stderr one for the live view. */
function wantsStream(ctx: CommandContext): boolean {
  if (ctx.values.stream === true) return true;
  return ctx.values.json !== true && (ctx.io.isTTY.stdout || ctx.io.isTTY.stderr);
}

/** True when the final answer is written to stdout as it streams: `--stream`, or stdout a terminal (not with --json). */
export function streamsAnswer(ctx: CommandContext): boolean {
  if (ctx.values.json === true) return false;
  return ctx.values.stream === true || ctx.io.isTTY.stdout;
}

/** The one line telling what an untrusted ./marshal.yaml did not get, and how to trust it. */
export function untrustedNotice(config: LoadedConfig, cwd: string): string | undefined {
  if (config.trust !== 'untrusted' || config.ignored.length === 0 || config.path === undefined)
    return undefined;
  const shown = config.path.startsWith(`${cwd}/`) ? `./${config.path.slice(cwd.length + 1)}` : config.path;
  return `marshal: ${shown} is not trusted: ignored ${config.ignored.join(', ')}; to trust it: marshal trust ${quoteShellWord(shown)}`;
}

function reportUntrusted(ctx: CommandContext, config: LoadedConfig): void {
  const line = untrustedNotice(config, ctx.io.cwd);
  if (line !== undefined) ctx.io.stderr.write(`${sanitizeForTerminal(line)}\n`);
}

/** Warnings of the runtime (tools skipped), for `createAgentRuntime`'s `onToolSkipped`. */
export function toolWarning(ctx: CommandContext): (path: string, message: string) => void {
  return (path, message) =>
    ctx.io.stderr.write(
      `marshal: warning: tool ${sanitizeForLog(path)} skipped: ${sanitizeForLog(message)}\n`,
    );
}

export interface Sinks {
  onEvent: EventSink;
  view: HeavyView;
  trace: TraceSink | undefined;
  /** Stops the view and closes the trace. */
  close(): Promise<void>;
}

/** The live view (TTY) or event lines on stderr, plus the trace file when asked for. */
export function createSinks(
  settings: AgentSettings,
  ctx: CommandContext,
  apiKey: string | undefined,
  label: 'HEAVY' | 'ASK',
): Sinks {
  const { io } = ctx;
  const view = createHeavyView({
    stream: io.stderr,
    live: io.isTTY.stderr,
    style: styler(useColor(io, 'stderr')),
    columns: io.columns,
    header: { model: settings.model, label },
    signal: ctx.signal,
  });
  // The key and any password written into the base URL are redacted wherever they appear.
  const known = [...(apiKey ? [apiKey] : []), ...urlSecrets(settings.baseUrl)];
  const trace = settings.trace
    ? createTraceSink(settings.trace, { known, append: settings.traceAppend })
    : undefined;
  return {
    view,
    trace,
    onEvent: (e) => {
      view.onEvent(e);
      trace?.onEvent(e);
    },
    close: async () => {
      view.stop();
      await trace?.close();
    },
  };
}
