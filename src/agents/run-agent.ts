/**
 * One agent's function-calling loop. It ends when the model answers without tool calls (that text
 * is the answer), when it calls `mark_task_complete` (its `completion_message` is the answer, even
 * when the same message has a preface), or after `maxIterations` (status `max_iterations`, the
 * last text kept). A reply cut at the token limit (`finish_reason: length`) ends with status
 * `truncated` and the partial text; a reply with only reasoning and no content is not an answer:
 * the agent asks once more, then fails (E_LLM_EMPTY). Tool calls of one message run concurrently.
 * It never throws for model, tool or abort failures: it returns an {@link AgentOutcome} (only
 * invalid options throw, E_INVALID_INPUT).
 *
 * @example
 * const outcome = await runAgent({ id: 'agent-1', model, modelId: 'moonshotai/kimi-k2',
 *   systemPrompt, originalQuestion: q, question: q, tools, maxIterations: 10, signal });
 */

import { InvalidInputError } from '../core/errors.ts';
import { abortStatus, errorInfo } from './agent-abort.ts';
import type { AgentOutcome, AgentStatus } from './agent-outcome.ts';
import { AGENT_ERRORS } from './errors.ts';
import { deltaEmitter, type EventSink, emitEvent, replyRecord } from './events.ts';
import { DEFAULT_TOOL_CONCURRENCY, executeToolCalls, MARK_TASK_COMPLETE } from './execute-tool-call.ts';
import {
  addUsage,
  type ChatMessage,
  type ChatModel,
  type ReasoningEffort,
  type Usage,
  ZERO_USAGE,
} from './model.ts';
import type { ToolRegistry } from './tools/tool-registry.ts';

export interface RunAgentOptions {
  /** Agent id used in events and the outcome, e.g. "agent-1". */
  id: string;
  model: ChatModel;
  modelId: string;
  systemPrompt: string;
  /** The user's question, shown to every agent next to its own sub-question. */
  originalQuestion: string;
  /** This agent's sub-question (may equal the original). */
  question: string;
  tools: ToolRegistry;
  /** Chat calls allowed (each may execute several tool calls). */
  maxIterations: number;
  temperature?: number;
  /** Bound on each reply's tokens (`max_tokens`); default the endpoint's. */
  maxTokens?: number;
  reasoningEffort?: ReasoningEffort;
  /** Tool calls of one message running at once; default {@link DEFAULT_TOOL_CONCURRENCY}. */
  toolConcurrency?: number;
  /** Aborting ends the agent: status 'timeout' when the reason is a timeout, else 'cancelled'. */
  signal?: AbortSignal;
  onEvent?: EventSink;
  /** LLM-call scope in events; default `id` when it starts with "agent-", else `agent-${id}`. */
  scope?: string;
  /** Workspace root passed to tools as `ctx.workspace`; default the process's working directory. */
  workspace?: string;
  /** Bound on each tool execution; default 120000 ms. */
  toolTimeoutMs?: number;
  /** Bound on each tool result's length in characters; default 20000. */
  maxToolOutputChars?: number;
}

/** Builds the first user message: the original question and this agent's sub-question, labelled. */
export function agentUserMessage(originalQuestion: string, question: string): string {
  if (originalQuestion.trim() === question.trim()) return question;
  return [
    'Original question (the user asked this):',
    originalQuestion,
    '',
    'Your sub-question (your angle on the original question; answer it in service of the original):',
    question,
  ].join('\n');
}

/** Sent once when a reply carried reasoning but no answer. */
export const ANSWER_NUDGE =
  'You replied with reasoning only. Reply now with your final answer as plain text.';

/** Runs one agent to completion. See the module comment for how it ends. */
export async function runAgent(options: RunAgentOptions): Promise<AgentOutcome> {
  const { id, model, modelId, tools, onEvent } = options;
  // Bad options are a caller bug, not an agent outcome: they throw.
  if (!Number.isInteger(options.maxIterations) || options.maxIterations < 1) {
    throw new InvalidInputError('maxIterations', options.maxIterations, 'expected an integer >= 1');
  }
  const scope = options.scope ?? (id.startsWith('agent-') ? id : `agent-${id}`);
  const signal = options.signal ?? new AbortController().signal;
  const started = Date.now();
  const messages: ChatMessage[] = [
    { role: 'system', content: options.systemPrompt },
    { role: 'user', content: agentUserMessage(options.originalQuestion, options.question) },
  ];
  const specs = tools.specs();
  const toolCalls: AgentOutcome['toolCalls'] = [];
  let usage: Usage = ZERO_USAGE;
  let lastText: string | null = null;

  const finish = (status: AgentStatus, answer: string | null, error: AgentOutcome['error']): AgentOutcome => {
    const outcome: AgentOutcome = {
      id,
      question: options.question,
      status,
      answer,
      toolCalls,
      usage,
      durationMs: Date.now() - started,
      error,
    };
    emitEvent(onEvent, { type: 'agent_done', agentId: id, outcome });
    return outcome;
  };
  const aborted = (): AgentOutcome => {
    const { status, error } = abortStatus(signal);
    return finish(status, lastText, error);
  };

  emitEvent(onEvent, { type: 'agent_start', agentId: id, question: options.question });
  let nudged = false;
  for (let iteration = 1; iteration <= options.maxIterations; iteration++) {
    if (signal.aborted) return aborted();
    emitEvent(onEvent, { type: 'agent_step', agentId: id, iteration });
    emitEvent(onEvent, { type: 'llm_request', scope, model: modelId, messages: [...messages] });
    const callStarted = Date.now();
    const onDelta = deltaEmitter(onEvent, scope);
    let reply: Awaited<ReturnType<ChatModel['chat']>>;
    try {
      reply = await model.chat({
        model: modelId,
        messages: [...messages],
        ...(specs.length > 0 ? { tools: specs } : {}),
        ...(options.temperature !== undefined ? { temperature: options.temperature } : {}),
        ...(options.maxTokens !== undefined ? { maxTokens: options.maxTokens } : {}),
        ...(options.reasoningEffort !== undefined ? { reasoningEffort: options.reasoningEffort } : {}),
        signal,
        ...(onDelta ? { onDelta } : {}),
        onRetry: (info) => emitEvent(onEvent, { type: 'llm_retry', scope, ...info }),
      });
    } catch (error) {
      if (signal.aborted) return aborted();
      return finish('failed', lastText, errorInfo(error));
    }
    usage = addUsage(usage, reply.usage);
    emitEvent(onEvent, {
      type: 'llm_response',
      scope,
      usage: reply.usage,
      finishReason: reply.finishReason,
      durationMs: Date.now() - callStarted,
      reply: replyRecord(reply),
    });
    const text = reply.content?.trim() ? reply.content : null;
    if (text !== null) lastText = text;

    if (reply.toolCalls.length === 0) {
      if (reply.finishReason === 'content_filter') {
        return finish('failed', lastText, {
          code: AGENT_ERRORS.E_LLM_CONTENT_FILTER.code,
          message: "the provider's content filter stopped the reply (finish_reason content_filter)",
        });
      }
      if (reply.finishReason === 'length') {
        return finish('truncated', lastText, {
          code: AGENT_ERRORS.E_LLM_TRUNCATED.code,
          message: 'the reply hit the token limit (finish_reason length); the answer is partial',
        });
      }
      if (text !== null) return finish('ok', text, null);
      if (reply.reasoning !== undefined) {
        if (!nudged) {
          // A reasoning model that thought but did not answer: ask once more.
          nudged = true;
          messages.push({ role: 'user', content: ANSWER_NUDGE });
          continue;
        }
        return finish('failed', lastText, {
          code: AGENT_ERRORS.E_LLM_EMPTY.code,
          message: 'the model returned reasoning but no answer, twice (content was empty)',
        });
      }
      if (lastText !== null) return finish('ok', lastText, null);
      return finish('failed', null, {
        code: AGENT_ERRORS.E_LLM_EMPTY.code,
        message: 'the model returned neither text nor tool calls',
      });
    }

    messages.push({
      role: 'assistant',
      content: reply.content,
      toolCalls: reply.toolCalls,
      ...(reply.reasoningDetails ? { reasoningDetails: reply.reasoningDetails } : {}),
    });
    const toolOptions = {
      agentId: id,
      tools,
      signal,
      workspace: options.workspace ?? process.cwd(),
      timeoutMs: options.toolTimeoutMs ?? 120_000,
      maxOutputChars: options.maxToolOutputChars ?? 20_000,
      onEvent,
    };
    // Calls after a mark_task_complete that ends the task are skipped (the task is done); the
    // ones before it, and the rest when it does not end the task, run concurrently.
    const markAt = tools.has(MARK_TASK_COMPLETE)
      ? reply.toolCalls.findIndex((c) => c.name === MARK_TASK_COMPLETE)
      : -1;
    const batches =
      markAt === -1
        ? [reply.toolCalls]
        : [reply.toolCalls.slice(0, markAt + 1), reply.toolCalls.slice(markAt + 1)];
    for (const batch of batches) {
      if (batch.length === 0) continue;
      const results = await executeToolCalls(
        batch,
        toolOptions,
        options.toolConcurrency ?? DEFAULT_TOOL_CONCURRENCY,
      );
      if (signal.aborted) return aborted();
      let completion: string | undefined;
      batch.forEach((call, i) => {
        const result = results[i]!;
        toolCalls.push({ name: call.name, ok: result.ok });
        if (call.name === MARK_TASK_COMPLETE) completion ??= result.completionMessage;
        messages.push({ role: 'tool', toolCallId: call.id, name: call.name, content: result.content });
      });
      // The completion message is the answer; a preface in the same message ("I'll mark the task
      // as complete now.") is only the answer when the call carries none.
      if (markAt !== -1 && batch.includes(reply.toolCalls[markAt]!)) {
        const answer = completion ?? text;
        if (answer !== null) return finish('ok', answer, null);
      }
    }
  }
  return finish('max_iterations', lastText, {
    code: AGENT_ERRORS.E_MAX_ITERATIONS.code,
    message: `no final answer after ${options.maxIterations} iterations${lastText === null ? '' : ' (the last text is kept)'}`,
  });
}
