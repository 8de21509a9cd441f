/**
 * The use cases of `marshal heavy` and `marshal ask` as library calls: load the settings (flags
 * over marshal.yaml over defaults, with the config's trust policy), run a heavy job or one
 * question, and turn "no agent answered" into E_NO_ANSWER.
 */
import { deadline } from '../core/deadline.ts';
import { MarshalError } from '../core/errors.ts';
import type { AgentOutcome } from './agent-outcome.ts';
import { type BudgetOptions, type BudgetStop, RunBudget } from './budget.ts';
import { type LoadedConfig, loadMarshalConfig } from './config.ts';
import { AGENT_ERRORS } from './errors.ts';
import type { EventSink } from './events.ts';
import { failFast } from './fail-fast.ts';
import {
  type AgentSettings,
  checkWorkspace,
  resolveSettings,
  type SettingFlags,
} from './resolve-settings.ts';
import { runAgent } from './run-agent.ts';
import { type HeavyResult, runHeavy } from './run-heavy.ts';
import type { AgentRuntime } from './runtime.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Settings of a run and the config they came from (its `trust` and `ignored` for the caller to report). */
export interface LoadedAgentSettings {
  settings: AgentSettings;
  config: LoadedConfig;
}

/** Loads marshal.yaml (`configPath`, else a discovered `./marshal.yaml`) and merges `flags` over it. */
export async function loadAgentSettings(options: {
  flags: SettingFlags;
  configPath?: string | undefined;
  cwd: string;
  env: Env;
}): Promise<LoadedAgentSettings> {
  const config = await loadMarshalConfig({
    configPath: options.configPath,
    cwd: options.cwd,
    env: options.env,
  });
  const settings = resolveSettings(options.flags, config, options.cwd);
  await checkWorkspace(settings);
  return { settings, config };
}

export interface JobOptions {
  signal?: AbortSignal | undefined;
  onEvent?: EventSink | undefined;
}

/** A heavy run with these settings. */
export function runHeavyFromSettings(
  question: string,
  settings: AgentSettings,
  runtime: AgentRuntime,
  options: JobOptions = {},
): Promise<HeavyResult> {
  return runHeavy(question, {
    model: runtime.model,
    modelId: settings.model,
    decomposeModelId: settings.decomposeModel,
    combineModelId: settings.combineModel,
    agents: settings.agents,
    strategy: settings.strategy,
    timeoutMs: settings.timeoutMs,
    agentTimeoutMs: settings.agentTimeoutMs,
    combineTimeoutMs: settings.combineTimeoutMs,
    decomposeTimeoutMs: settings.decomposeTimeoutMs,
    maxTokens: settings.maxTokens,
    reasoningEffort: settings.reasoningEffort,
    maxIterations: settings.maxIterations,
    contextTokens: settings.contextTokens,
    temperature: settings.temperature,
    tools: runtime.tools,
    workspace: settings.workspace,
    prompts: settings.prompts,
    perAgent: settings.perAgent,
    budget: budgetOf(settings),
    signal: options.signal,
    onEvent: options.onEvent,
  });
}

/**
 * One agent answering `question` (`ask`), bounded by the run's and the agent's timeout. Throws
 * E_LLM_REFUSED when the endpoint refused the key, the model or the account.
 */
export async function runAskFromSettings(
  question: string,
  settings: AgentSettings,
  runtime: AgentRuntime,
  options: JobOptions = {},
): Promise<AskOutcome> {
  const ms = Math.min(settings.timeoutMs, settings.agentTimeoutMs ?? Number.POSITIVE_INFINITY);
  // A refused key or model ends the answer with one E_LLM_REFUSED (exit 2), not "no answer".
  const guard = failFast(runtime.model);
  // One agent and no combine step: the whole budget is the agent's (no reserve).
  const budgetOptions = budgetOf(settings);
  const budget = budgetOptions ? new RunBudget({ ...budgetOptions, reserve: 0 }) : undefined;
  const d = deadline(ms, [options.signal, guard.signal, budget?.signal], 'the answer');
  try {
    const outcome: AskOutcome = await runAgent({
      id: 'agent-1',
      model: budget ? budget.workModel(guard.model) : guard.model,
      modelId: settings.model,
      systemPrompt: settings.prompts.system,
      originalQuestion: question,
      question,
      tools: runtime.tools,
      maxIterations: settings.maxIterations,
      signal: d.signal,
      workspace: settings.workspace,
      ...(settings.temperature === undefined ? {} : { temperature: settings.temperature }),
      ...(settings.maxTokens === undefined ? {} : { maxTokens: settings.maxTokens }),
      ...(settings.reasoningEffort === undefined ? {} : { reasoningEffort: settings.reasoningEffort }),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
    const refusal = guard.refusal();
    if (refusal !== undefined) throw refusal;
    if (budget) outcome.stoppedBy = budget.stopped ?? null;
    return outcome;
  } finally {
    d.clear();
  }
}

/** What `ask` produced: the agent's outcome and, with a budget, whether the budget stopped it. */
export interface AskOutcome extends AgentOutcome {
  /** With a budget: which budget stopped the answer (null when none was reached). */
  stoppedBy?: BudgetStop | null;
}

/** The run's budget options from its settings (undefined: no budget). */
function budgetOf(settings: AgentSettings): BudgetOptions | undefined {
  if (settings.maxCostUsd === undefined && settings.maxTokensTotal === undefined) return undefined;
  return {
    maxCostUsd: settings.maxCostUsd,
    maxTokensTotal: settings.maxTokensTotal,
    reserve: settings.budgetReserve,
  };
}

/**
 * E_NO_ANSWER (exit 3) when a heavy result has no answer (not even partial work) or an ask
 * outcome has no answer (ok, or truncated with its partial text); else undefined.
 */
export function noAnswerError(result: HeavyResult | AskOutcome): MarshalError | undefined {
  if ('agents' in result) {
    if (result.answer !== null) return undefined;
    const counts = result.agents.map((a) => `${a.id}: ${a.status}`).join(', ');
    return new MarshalError(AGENT_ERRORS.E_NO_ANSWER, `no agent produced an answer (${counts})`, {
      details: { statuses: result.agents.map((a) => a.status) },
    });
  }
  // A truncated answer is still an answer (shown with a warning), and so is the partial text of
  // an answer its budget stopped.
  if (result.status === 'ok' || (result.status === 'truncated' && result.answer !== null)) return undefined;
  if ('stoppedBy' in result && result.stoppedBy && result.answer !== null) return undefined;
  return new MarshalError(AGENT_ERRORS.E_NO_ANSWER, `no answer: ${result.status}`, {
    details: { statuses: [result.status] },
  });
}
