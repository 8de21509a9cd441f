/**
 * A heavy run: decompose the question into N sub-questions, run N agents in parallel (each with
 * its own deadline, all under the run's deadline), then combine what finished.
 *
 * @example
 * const result = await runHeavy('Why is the sky blue?', {
 *   model, modelId: 'moonshotai/kimi-k2', tools, agents: 4, strategy: 'synthesize', signal,
 * });
 * console.log(result.answer);
 */
import { setMaxListeners } from 'node:events';
import { deadline } from '../core/deadline.ts';
import { InvalidInputError } from '../core/errors.ts';
import { type AgentOutcome, answerKind } from './agent-outcome.ts';
import { type BudgetOptions, type BudgetStop, RunBudget } from './budget.ts';
import { type AgentAnswer, type CombineStrategy, combine, VOTE_ANSWER_INSTRUCTION } from './combine/index.ts';
import { decompose } from './decompose.ts';
import { type EventSink, emitEvent } from './events.ts';
import { failFast } from './fail-fast.ts';
import { addUsage, type ChatModel, type ReasoningEffort, type Usage, ZERO_USAGE } from './model.ts';
import { type HeavyPrompts, resolvePrompts } from './prompts.ts';
import { runAgent } from './run-agent.ts';
import { checkSetting, SETTINGS } from './settings.ts';
import type { ToolRegistry } from './tools/tool-registry.ts';

/** Overrides for agent i (index 0 is agent-1). */
export interface HeavyAgentOverride {
  model?: string | undefined;
  temperature?: number | undefined;
  systemPrompt?: string | undefined;
}

export interface RunHeavyOptions {
  model: ChatModel;
  /** Model id of the agents (and of decompose/combine unless overridden). */
  modelId: string;
  decomposeModelId?: string | undefined;
  combineModelId?: string | undefined;
  /** Number of agents (bounds and default: `SETTINGS.agents`). */
  agents?: number | undefined;
  /** Default 'synthesize'. */
  strategy?: CombineStrategy | undefined;
  /** Deadline of the whole run; default `SETTINGS.timeout` (300 s). */
  timeoutMs?: number | undefined;
  /** Deadline of each agent, from its start; default none (the run's deadline applies). */
  agentTimeoutMs?: number | undefined;
  /**
   * Bound on the decomposition; default {@link DECOMPOSE_TIMEOUT_SHARE} of timeoutMs, at least
   * {@link DECOMPOSE_TIMEOUT_FLOOR_MS} (the run's deadline still applies). A hung
   * decomposition falls back to the angles and leaves the agents the rest of the run.
   */
  decomposeTimeoutMs?: number | undefined;
  /** Bound on each reply's tokens (`max_tokens`). */
  maxTokens?: number | undefined;
  reasoningEffort?: ReasoningEffort | undefined;
  /** Minimum time the combine step gets, even after the run's deadline; default min(30 s, 10% of timeoutMs). */
  combineTimeoutMs?: number | undefined;
  /** Chat calls per agent (bounds and default: `SETTINGS.maxIterations`). */
  maxIterations?: number | undefined;
  /** Agents running at once; default all (LLM requests in flight: the model's endpoint limiter). */
  concurrency?: number | undefined;
  /** The combining model's context in tokens: bounds each answer in a combining prompt (`SETTINGS.contextTokens`). */
  contextTokens?: number | undefined;
  /** Temperature of the agents and combining calls (per-agent overrides win). */
  temperature?: number | undefined;
  tools: ToolRegistry;
  /** Workspace root handed to the tools. */
  workspace?: string | undefined;
  prompts?: Partial<HeavyPrompts> | undefined;
  perAgent?: readonly HeavyAgentOverride[] | undefined;
  /** User abort: unfinished agents become 'cancelled' and the answers that finished are concatenated. */
  signal?: AbortSignal | undefined;
  /** Budgets of the run (budget.ts): reached, the agents stop and the combine step uses the reserve. */
  budget?: BudgetOptions | undefined;
  onEvent?: EventSink | undefined;
}

/** One agent in a {@link HeavyResult} (the `--json` shape). */
export interface HeavyAgentResult {
  id: string;
  /** This agent's sub-question, verbatim. */
  question: string;
  status: AgentOutcome['status'];
  answer: string | null;
  toolCalls: Array<{ name: string; ok: boolean }>;
  usage: Usage;
  durationMs: number;
  error: { code: string; message: string } | null;
}

/** Share of the run's deadline the decomposition gets by default. */
export const DECOMPOSE_TIMEOUT_SHARE = 0.2;
/** The least time the decomposition gets by default: a short run must not lose it to a slow first reply. */
export const DECOMPOSE_TIMEOUT_FLOOR_MS = 30_000;

/** The result of a heavy run: exactly what `marshal heavy --json` prints. */
export interface HeavyResult {
  question: string;
  /** Null when no agent left any text. */
  answer: string | null;
  /**
   * True when no agent finished and the answer combines partial work (timed-out agents' last
   * text, truncated replies, ...), each labelled as partial.
   */
  partial: boolean;
  strategy: CombineStrategy;
  subQuestions: string[];
  agents: HeavyAgentResult[];
  /** Every call: decomposition (retries included), agents, combining. */
  usage: Usage;
  durationMs: number;
  /** With a budget: which budget stopped the work (null when none was reached). */
  stoppedBy?: BudgetStop | null;
}

function check(ok: boolean, field: string, value: unknown, expected: string): void {
  if (!ok) throw new InvalidInputError(field, value, expected);
}

const isInt = (v: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  Number.isInteger(v) && v >= min && v <= max;
const isPositive = (v: number | undefined) => v === undefined || (Number.isFinite(v) && v > 0);

/**
 * Runs a heavy job. Throws for invalid options (E_INVALID_INPUT) and when the endpoint refuses
 * the key, the model or the account (E_LLM_REFUSED, after the first such reply: every other call
 * would fail the same way); other model, tool, timeout and abort trouble end up in the result as
 * data. Finished work is always kept, and partial work when nothing finished.
 */
export async function runHeavy(question: string, options: RunHeavyOptions): Promise<HeavyResult> {
  const started = Date.now();
  check(question.trim() !== '', 'question', question, 'expected a non-empty question');
  // Defaults and bounds come from the settings table (settings.ts), as for marshal.yaml and the CLI.
  const n = checkSetting('agents', options.agents ?? SETTINGS.agents.default);
  const strategy = checkSetting('strategy', options.strategy ?? SETTINGS.strategy.default);
  const timeoutMs = options.timeoutMs ?? SETTINGS.timeout.default * 1000;
  const maxIterations = checkSetting(
    'maxIterations',
    options.maxIterations ?? SETTINGS.maxIterations.default,
  );
  const contextTokens = checkSetting(
    'contextTokens',
    options.contextTokens ?? SETTINGS.contextTokens.default,
  );
  const concurrency = Math.min(options.concurrency ?? n, n);
  check(isPositive(timeoutMs), 'timeoutMs', timeoutMs, 'expected a positive number of milliseconds');
  check(
    isPositive(options.agentTimeoutMs),
    'agentTimeoutMs',
    options.agentTimeoutMs,
    'expected a positive number',
  );
  check(
    isPositive(options.decomposeTimeoutMs),
    'decomposeTimeoutMs',
    options.decomposeTimeoutMs,
    'expected a positive number',
  );
  check(
    isPositive(options.combineTimeoutMs),
    'combineTimeoutMs',
    options.combineTimeoutMs,
    'expected a positive number',
  );
  check(isInt(concurrency, 1), 'concurrency', options.concurrency, 'expected a positive integer');

  const { onEvent, signal: userSignal } = options;
  // The first refusal (bad key, unknown model) aborts every step and ends the run (fail-fast.ts).
  const guard = failFast(options.model);
  const model = guard.model;
  const prompts = resolvePrompts(options.prompts);
  // One strongly held timer per deadline (core/deadline.ts), cleared when its work ends: an
  // AbortSignal.timeout inside AbortSignal.any can be collected on Node 20 and never fire.
  // A budget stops the work like the run's deadline does; the combine step gets the reserve.
  const budget = options.budget ? new RunBudget(options.budget) : undefined;
  budget?.signal.addEventListener(
    'abort',
    () => {
      const stop = budget.stopped!;
      emitEvent(onEvent, { type: 'budget_reached', budget: stop.budget, limit: stop.limit, used: stop.used });
    },
    { once: true },
  );
  const runDeadline = deadline(timeoutMs, [userSignal, guard.signal, budget?.signal], 'the run');
  const runSignal = runDeadline.signal;
  // Every agent's deadline listens to the run's signal: not a leak, so no warning past 10 agents.
  setMaxListeners(n + 16, runSignal);
  const endsAt = started + timeoutMs;
  emitEvent(onEvent, { type: 'run_start', question, model: options.modelId, agents: n, strategy });
  let phases: { decomposition: Awaited<ReturnType<typeof decompose>>; outcomes: AgentOutcome[] };
  try {
    phases = await decomposeAndRun(
      question,
      { ...options, model: budget ? budget.workModel(model) : model },
      { n, maxIterations, concurrency, prompts, runSignal, timeoutMs, strategy },
    );
  } catch (error) {
    throw guard.refusal() ?? error;
  } finally {
    runDeadline.clear();
  }
  const refusal = guard.refusal();
  if (refusal !== undefined) throw refusal;
  const { decomposition, outcomes } = phases;
  const subQuestions = decomposition.subQuestions;

  const { answers, partial } = combineInputs(outcomes);
  // The combine step keeps a bound of its own so a run that hit its deadline still combines what finished.
  const grace = options.combineTimeoutMs ?? Math.min(30_000, timeoutMs * 0.1);
  const combineDeadline = deadline(Math.max(endsAt - Date.now(), grace), [userSignal], 'the combine step');
  emitEvent(onEvent, { type: 'combine_start', strategy, answers });
  const agentModelIds = Object.fromEntries(
    outcomes.map((o, i) => [o.id, options.perAgent?.[i]?.model ?? options.modelId]),
  );
  let combined: Awaited<ReturnType<typeof combine>>;
  try {
    combined = await combine(strategy, {
      model: budget ? budget.combineModel(model) : model,
      modelId: options.combineModelId ?? options.modelId,
      question,
      answers,
      prompts,
      agentModelIds,
      contextTokens,
      temperature: options.temperature,
      signal: combineDeadline.signal,
      onEvent,
    });
  } finally {
    combineDeadline.clear();
  }
  emitEvent(onEvent, {
    type: 'combine_done',
    strategy,
    fallback: combined.fallback,
    ...(combined.note ? { note: combined.note } : {}),
  });

  let usage = addUsage(decomposition.usage, combined.usage);
  for (const o of outcomes) usage = addUsage(usage, o.usage);
  const durationMs = Date.now() - started;
  emitEvent(onEvent, {
    type: 'run_done',
    durationMs,
    usage,
    answer: combined.answer,
    partial: partial && combined.answer !== null,
  });
  return {
    question,
    answer: combined.answer,
    partial: partial && combined.answer !== null,
    strategy,
    subQuestions,
    agents: outcomes.map(toAgentResult),
    usage,
    durationMs,
    ...(budget ? { stoppedBy: budget.stopped ?? null } : {}),
  };
}

interface PhaseContext {
  n: number;
  maxIterations: number;
  concurrency: number;
  prompts: HeavyPrompts;
  runSignal: AbortSignal;
  timeoutMs: number;
  strategy: CombineStrategy;
}

/**
 * What the combine step gets: the finished answers (ok, and truncated ones labelled partial), or,
 * when none finished, every agent's partial work labelled with its status.
 */
export function combineInputs(outcomes: readonly AgentOutcome[]): {
  answers: AgentAnswer[];
  partial: boolean;
} {
  const withText = outcomes.filter((o) => o.answer !== null && o.answer.trim() !== '');
  const toAnswer = (o: AgentOutcome): AgentAnswer => ({
    id: o.id,
    question: o.question,
    answer: o.answer!,
    ...(answerKind(o.status) === 'partial' ? { partial: o.status } : {}),
  });
  const finished = withText.filter((o) => o.status === 'ok' || o.status === 'truncated');
  if (finished.length > 0) return { answers: finished.map(toAnswer), partial: false };
  return { answers: withText.map(toAnswer), partial: withText.length > 0 };
}

/**
 * The sub-questions: the decomposition, or under `vote` (self-consistency) the question itself for
 * every agent, with no call.
 */
async function subQuestionsFor(question: string, options: RunHeavyOptions, ctx: PhaseContext) {
  const { model, onEvent } = options;
  const { n, prompts, runSignal } = ctx;
  if (ctx.strategy === 'vote') {
    emitEvent(onEvent, { type: 'decompose_start' });
    const subQuestions = Array.from({ length: n }, () => question);
    emitEvent(onEvent, { type: 'decompose_done', subQuestions, fallback: false });
    return { subQuestions, fallback: false, usage: ZERO_USAGE };
  }
  // Its own bound inside the run's: a hung decomposition falls back to the angles in time.
  const decomposeMs =
    options.decomposeTimeoutMs ??
    Math.max(DECOMPOSE_TIMEOUT_FLOOR_MS, ctx.timeoutMs * DECOMPOSE_TIMEOUT_SHARE);
  const decomposeDeadline = deadline(decomposeMs, [runSignal], 'the decomposition');
  try {
    return await decompose({
      model,
      modelId: options.decomposeModelId ?? options.modelId,
      question,
      n,
      prompt: prompts.decompose,
      signal: decomposeDeadline.signal,
      onEvent,
    });
  } finally {
    decomposeDeadline.clear();
  }
}

/** Decomposes, then runs the agents (each under its own deadline inside the run's). */
async function decomposeAndRun(question: string, options: RunHeavyOptions, ctx: PhaseContext) {
  const { model, onEvent } = options;
  const { n, prompts, runSignal } = ctx;
  const decomposition = await subQuestionsFor(question, options, ctx);
  const subQuestions = decomposition.subQuestions;
  const runOne = async (i: number): Promise<AgentOutcome> => {
    const override = options.perAgent?.[i] ?? {};
    const system = override.systemPrompt ?? prompts.system;
    const temperature = override.temperature ?? options.temperature;
    // The agent's clock starts when it starts, not when it was queued.
    const agentDeadline = deadline(options.agentTimeoutMs, [runSignal], `agent-${i + 1}`);
    try {
      return await runAgent({
        id: `agent-${i + 1}`,
        model,
        modelId: override.model ?? options.modelId,
        systemPrompt: ctx.strategy === 'vote' ? `${system}\n\n${VOTE_ANSWER_INSTRUCTION}` : system,
        originalQuestion: question,
        question: subQuestions[i]!,
        tools: options.tools,
        maxIterations: ctx.maxIterations,
        signal: agentDeadline.signal,
        ...(temperature === undefined ? {} : { temperature }),
        ...(options.maxTokens === undefined ? {} : { maxTokens: options.maxTokens }),
        ...(options.reasoningEffort === undefined ? {} : { reasoningEffort: options.reasoningEffort }),
        ...(options.workspace === undefined ? {} : { workspace: options.workspace }),
        ...(onEvent ? { onEvent } : {}),
      });
    } finally {
      agentDeadline.clear();
    }
  };
  const outcomes = await runPool(n, ctx.concurrency, runOne);
  return { decomposition, outcomes };
}

function toAgentResult(o: AgentOutcome): HeavyAgentResult {
  return {
    id: o.id,
    question: o.question,
    status: o.status,
    answer: o.answer,
    toolCalls: o.toolCalls.map((c) => ({ name: c.name, ok: c.ok })),
    usage: {
      promptTokens: o.usage.promptTokens,
      completionTokens: o.usage.completionTokens,
      costUsd: o.usage.costUsd,
    },
    durationMs: o.durationMs,
    error: o.error ? { code: o.error.code, message: o.error.message } : null,
  };
}

/** Runs `task(0..count-1)` with at most `limit` in flight; results in index order. `task` must not throw. */
async function runPool<T>(count: number, limit: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const i = next++;
      results[i] = await task(i);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  return results;
}
