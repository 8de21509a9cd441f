/** What every combine strategy receives and returns, and the answer formatting they share. */
import type { UsageMeter } from '../chat-once.ts';
import type { EventSink } from '../events.ts';
import type { ChatModel } from '../model.ts';
import type { HeavyPrompts } from '../prompts.ts';

/** One successful agent's answer. */
export interface AgentAnswer {
  id: string;
  /** The sub-question the agent answered. */
  question: string;
  answer: string;
  /** Set when the text is partial work, not a finished answer: why (`truncated`, `timeout`, ...). */
  partial?: string | undefined;
}

/** ` (partial: timeout)` for partial work, else ''. */
export function partialLabel(a: AgentAnswer): string {
  return a.partial === undefined ? '' : ` (partial: ${a.partial})`;
}

export interface CombineContext {
  model: ChatModel;
  /** Model id for combining calls (synthesis, judge). */
  modelId: string;
  /** The ORIGINAL user question. */
  question: string;
  /** Successful answers, at least two (the caller handles zero and one). */
  answers: AgentAnswer[];
  prompts: HeavyPrompts;
  /** Model id per agent id, for the debate round (each agent revises with its own model). */
  agentModelIds?: Readonly<Record<string, string>> | undefined;
  temperature?: number | undefined;
  signal?: AbortSignal | undefined;
  onEvent?: EventSink | undefined;
  /** Every combining call adds its usage here, even when a later call of the strategy fails. */
  meter: UsageMeter;
}

/** What a strategy produced. */
export interface CombineOutput {
  answer: string;
  /** A short human note (the judge's reason, the vote count). */
  note?: string;
}

/** `=== RESPONSE k (sub-question: ...) ===` blocks, numbered from 1. */
export function formatAnswers(answers: readonly AgentAnswer[]): string {
  return answers
    .map(
      (a, i) =>
        `=== RESPONSE ${i + 1} (sub-question: ${a.question})${partialLabel(a)} ===\n${a.answer.trim()}`,
    )
    .join('\n\n');
}
