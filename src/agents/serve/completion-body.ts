/**
 * The bodies `marshal serve` sends: `chat.completion` objects, `chat.completion.chunk`s, the
 * model list, usage in the OpenAI shape (with OpenRouter's `cost` when known), and marshal's
 * details in the `marshal` extension field that OpenAI clients ignore. Pure.
 */
import type { AgentOutcome } from '../agent-outcome.ts';
import type { Usage } from '../model.ts';
import type { HeavyResult } from '../run-heavy.ts';
import { SERVE_MODELS, type ServeModel } from './chat-request.ts';

/** `usage` of a response: every upstream call totalled. */
export function wireUsage(u: Usage): Record<string, number> {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.promptTokens + u.completionTokens,
    ...(u.costUsd === null ? {} : { cost: u.costUsd }),
  };
}

/** The `marshal` extension of a finished run: sub-questions, agent statuses, budget stop. */
export function runDetails(
  result: HeavyResult | AgentOutcome,
  upstreamModel: string,
): Record<string, unknown> {
  if ('agents' in result) {
    return {
      upstreamModel,
      strategy: result.strategy,
      partial: result.partial,
      subQuestions: result.subQuestions,
      agents: result.agents.map((a) => ({
        id: a.id,
        question: a.question,
        status: a.status,
        error: a.error,
        usage: wireUsage(a.usage),
      })),
      ...(result.stoppedBy === undefined ? {} : { stoppedBy: result.stoppedBy }),
      durationMs: result.durationMs,
    };
  }
  return {
    upstreamModel,
    agents: [{ id: result.id, question: result.question, status: result.status, error: result.error }],
    durationMs: result.durationMs,
  };
}

export interface CompletionIds {
  id: string;
  created: number;
  model: ServeModel;
}

/** A non-streamed `chat.completion`. */
export function completionBody(
  ids: CompletionIds,
  answer: string,
  usage: Usage,
  details: Record<string, unknown>,
): Record<string, unknown> {
  return {
    id: ids.id,
    object: 'chat.completion',
    created: ids.created,
    model: ids.model,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: answer, refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: wireUsage(usage),
    marshal: details,
  };
}

/** One `chat.completion.chunk`; `extra` adds `usage` or the `marshal` extension. */
export function chunkBody(
  ids: CompletionIds,
  delta: Record<string, unknown> | null,
  finishReason: string | null = null,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id: ids.id,
    object: 'chat.completion.chunk',
    created: ids.created,
    model: ids.model,
    choices: delta === null ? [] : [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...extra,
  };
}

/** `GET /v1/models`. */
export function modelList(created: number): Record<string, unknown> {
  return { object: 'list', data: SERVE_MODELS.map((id) => modelEntry(id, created)) };
}

export function modelEntry(id: ServeModel, created: number): Record<string, unknown> {
  return { id, object: 'model', created, owned_by: 'marshal' };
}
