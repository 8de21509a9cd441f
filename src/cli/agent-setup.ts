/**
 * What `marshal heavy` and `marshal ask` share: their options, turning flags + marshal.yaml into
 * settings, and building the model, the tools and the event sinks (live view, trace).
 */

import { stat } from 'node:fs/promises';
import { type AgentSettings, loadMarshalConfig, resolveSettings } from '../agents/config.ts';
import type { EventSink } from '../agents/events.ts';
import type { ChatModel } from '../agents/model.ts';
import { createOpenAICompatibleModel, resolveApiKey } from '../agents/providers/openai-compatible.ts';
import { createBuiltinTools, loadToolsDir, ToolRegistry } from '../agents/tools/tool.ts';
import { createTraceSink, type TraceSink } from '../agents/trace.ts';
import { CORE_ERRORS, UsageError } from '../core/errors.ts';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { type CommandContext, numberOption, type OptionSpec, stringOption } from './command.ts';
import { styler, useColor } from './io.ts';
import { createHeavyView, type HeavyView } from './render/heavy-view.ts';

/** Options of both commands (`heavy` adds -n and --strategy). */
export const AGENT_OPTIONS: Record<string, OptionSpec> = {
  config: {
    type: 'string',
    short: 'c',
    valueName: 'file',
    description: 'config file',
    defaultText: './marshal.yaml when present',
  },
  model: { type: 'string', valueName: 'id', description: 'model id', defaultText: 'moonshotai/kimi-k2' },
  'base-url': {
    type: 'string',
    valueName: 'url',
    description: 'OpenAI-compatible endpoint',
    defaultText: 'https://openrouter.ai/api/v1',
  },
  timeout: {
    type: 'string',
    valueName: 'seconds',
    description: 'deadline of the whole run',
    defaultText: '300',
  },
  'agent-timeout': { type: 'string', valueName: 'seconds', description: 'deadline of each agent' },
  'max-iterations': {
    type: 'string',
    valueName: 'n',
    description: 'chat calls per agent',
    defaultText: '10',
  },
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
  json: { type: 'boolean', description: 'print one JSON document on stdout' },
  trace: {
    type: 'string',
    valueName: 'file.jsonl',
    description: 'write every event as JSON lines (secrets redacted)',
  },
};

export const HEAVY_OPTIONS: Record<string, OptionSpec> = {
  agents: {
    type: 'string',
    short: 'n',
    valueName: 'N',
    description: 'number of agents (1-64)',
    defaultText: '4',
  },
  strategy: {
    type: 'string',
    valueName: 'name',
    description: 'combine answers: synthesize, judge, vote, debate or concat',
    defaultText: 'synthesize',
  },
  ...AGENT_OPTIONS,
};

/** Exit codes both commands document. */
export const AGENT_EXIT_CODES: Array<[number, string]> = [
  [0, 'an answer was produced'],
  [1, 'runtime failure'],
  [2, 'usage or config error (including a missing API key for OpenRouter)'],
  [3, 'no agent produced an answer'],
  [130, 'interrupted (prints what finished)'],
];

/** Reads flags and marshal.yaml into settings (flags win). */
export async function loadSettings(ctx: CommandContext): Promise<AgentSettings> {
  const v = ctx.values;
  const loaded = await loadMarshalConfig({
    configPath: stringOption(v, 'config'),
    cwd: ctx.io.cwd,
    env: ctx.io.env,
  });
  const settings = resolveSettings(
    {
      model: stringOption(v, 'model'),
      baseUrl: stringOption(v, 'base-url'),
      agents: numberOption(v, 'agents', { min: 1, max: 64, integer: true }),
      strategy: stringOption(v, 'strategy'),
      timeoutS: numberOption(v, 'timeout', { min: 0.001, max: 86_400 }),
      agentTimeoutS: numberOption(v, 'agent-timeout', { min: 0.001, max: 86_400 }),
      maxIterations: numberOption(v, 'max-iterations', { min: 1, max: 100, integer: true }),
      workspace: stringOption(v, 'workspace'),
      toolsDir: stringOption(v, 'tools-dir'),
      json: v.json === true ? true : undefined,
      trace: stringOption(v, 'trace'),
    },
    loaded,
    ctx.io.cwd,
  );
  try {
    new URL(settings.baseUrl);
  } catch {
    throw new UsageError(`--base-url must be an http(s) URL, got ${JSON.stringify(settings.baseUrl)}`, {
      code: CORE_ERRORS.E_INVALID_INPUT,
      details: { field: '--base-url', value: settings.baseUrl },
    });
  }
  const ws = await stat(settings.workspace).catch(() => undefined);
  if (!ws?.isDirectory()) {
    throw new UsageError(
      `--workspace must be an existing directory, got ${JSON.stringify(settings.workspace)}`,
      {
        code: CORE_ERRORS.E_INVALID_INPUT,
        details: { field: '--workspace', value: settings.workspace },
      },
    );
  }
  return settings;
}

export interface AgentRuntime {
  model: ChatModel;
  tools: ToolRegistry;
  /** The key in use (to redact), or undefined. */
  apiKey: string | undefined;
}

/** Builds the HTTP model (key from the environment only) and the tools. */
export async function createRuntime(settings: AgentSettings, ctx: CommandContext): Promise<AgentRuntime> {
  const apiKey = resolveApiKey(ctx.io.env, { baseUrl: settings.baseUrl, keyEnv: settings.apiKeyEnv });
  const model = createOpenAICompatibleModel({
    baseUrl: settings.baseUrl,
    apiKey,
    retries: settings.retries,
    timeoutMs: settings.requestTimeoutMs,
  });
  const builtins = createBuiltinTools({
    workspace: settings.workspace,
    ...(settings.search ? { search: settings.search } : {}),
  });
  let tools = new ToolRegistry(builtins);
  if (settings.toolsDir !== undefined) {
    const loaded = await loadToolsDir(settings.toolsDir);
    for (const e of loaded.errors) {
      ctx.io.stderr.write(
        `marshal: warning: tool ${sanitizeForLog(e.path)} skipped: ${sanitizeForLog(e.message)}\n`,
      );
    }
    tools = tools.with(loaded.tools);
  }
  return { model, tools, apiKey };
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
  });
  const trace = settings.trace
    ? createTraceSink(settings.trace, { known: apiKey ? [apiKey] : [] })
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
