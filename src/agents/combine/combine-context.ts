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
  /**
   * The combining model's context in tokens (setting `contextTokens`); the answers in a prompt
   * share {@link ANSWERS_SHARE} of it (at {@link CHARS_PER_TOKEN} characters a token), each cut
   * to its share with a note. Default `DEFAULT_CONTEXT_TOKENS`.
   */
  contextTokens?: number | undefined;
}

/** The default context of the combining model, in tokens. */
export const DEFAULT_CONTEXT_TOKENS = 128_000;
/** A rough, conservative rule of thumb for English text and code. */
export const CHARS_PER_TOKEN = 4;
/** Share of the context the answers may take together: the rest is the prompt and the reply. */
export const ANSWERS_SHARE = 0.75;

/** How many characters each of `count` answers may have in one combining prompt. Pure. */
export function answerShareChars(contextTokens: number | undefined, count: number): number {
  const total = (contextTokens ?? DEFAULT_CONTEXT_TOKENS) * CHARS_PER_TOKEN * ANSWERS_SHARE;
  return Math.max(200, Math.floor(total / Math.max(1, count)));
}

/**
 * `text` trimmed, cut to `maxChars` (on a code point boundary) with a note saying how much was
 * left out, so the combining model knows it sees part of the answer. Pure.
 */
export function boundAnswer(text: string, maxChars: number): string {
  const t = text.trim();
  if (t.length <= maxChars) return t;
  let end = maxChars;
  const code = t.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--; // never split a surrogate pair
  return `${t.slice(0, end)}\n[... answer cut: the first ${end} of ${t.length} characters shown, to fit the model's context]`;
}

/** What a strategy produced. */
export interface CombineOutput {
  answer: string;
  /** A short human note (the judge's reason, the vote count). */
  note?: string;
}

/**
 * `=== RESPONSE k (sub-question: ...) ===` blocks, numbered from 1; each answer cut to its share of
 * `contextTokens` ({@link answerShareChars}).
 */
export function formatAnswers(answers: readonly AgentAnswer[], contextTokens?: number): string {
  const share = answerShareChars(contextTokens, answers.length);
  return answers
    .map(
      (a, i) =>
        `=== RESPONSE ${i + 1} (sub-question: ${a.question})${partialLabel(a)} ===\n${boundAnswer(a.answer, share)}`,
    )
    .join('\n\n');
}
