/**
 * Decomposition: one tool-less structured call that splits the question into exactly N distinct
 * sub-questions, one corrective retry, then fallback angles that work for any N.
 */
import { isAbortError } from '../core/errors.ts';
import { chatOnce, UsageMeter } from './chat-once.ts';
import { type EventSink, emitEvent } from './events.ts';
import { extractJson } from './extract-json.ts';
import type { ChatMessage, ChatModel, Usage } from './model.ts';
import { fallbackSubQuestions, fillTemplate } from './prompts.ts';
import { fatalOf } from './providers/http-error.ts';
import { stripThink } from './strip-think.ts';

export interface DecomposeOptions {
  model: ChatModel;
  modelId: string;
  question: string;
  /** How many sub-questions (the number of agents). */
  n: number;
  /** The decomposition prompt template (`{question}`, `{n}`). */
  prompt: string;
  temperature?: number | undefined;
  signal?: AbortSignal | undefined;
  onEvent?: EventSink | undefined;
}

export interface DecomposeResult {
  subQuestions: string[];
  /** True when the fallback angles were used. */
  fallback: boolean;
  /** Why the fallback was used. */
  reason?: string;
  /** Every decomposition call, retries included. */
  usage: Usage;
}

/** Result of checking a model's reply. */
export type SubQuestionCheck = { ok: true; questions: string[] } | { ok: false; problem: string };

/** Lower-cases, collapses whitespace and drops trailing punctuation, for the distinctness check. */
export function normalizeQuestion(q: string): string {
  return q
    .toLowerCase()
    .replace(/\s+/g, ' ')
    .replace(/^["'\s]+|["'\s?.!]+$/g, '');
}

/**
 * Parses a model's reply and picks `n` non-empty, distinct questions. Accepted, after removing
 * `<think>` blocks: a JSON array of strings, or of objects with a `question` (or `q`, `text`,
 * `sub_question`) field, or an object holding such an array, bare, fenced or inside prose; else a
 * numbered or bulleted list. More than `n` items: the first `n` distinct ones. Pure.
 */
export function parseSubQuestions(text: string | null, n: number): SubQuestionCheck {
  const visible = text === null ? '' : stripThink(text).content;
  if (visible.trim() === '') return { ok: false, problem: 'the reply was empty' };
  const list = questionList(extractJson(visible, (v) => questionList(v) !== undefined)) ?? listItems(visible);
  if (list === undefined) return { ok: false, problem: 'the reply did not contain a JSON array of strings' };
  const questions = list.map((q) => q.trim());
  if (questions.length < n) {
    return { ok: false, problem: `it had ${questions.length} questions instead of exactly ${n}` };
  }
  const picked: string[] = [];
  const seen = new Set<string>();
  let repeated: string | undefined;
  let empty = false;
  for (const q of questions) {
    const key = normalizeQuestion(q);
    if (key === '') empty = true;
    else if (seen.has(key)) repeated ??= q;
    else if (picked.length < n) {
      seen.add(key);
      picked.push(q);
    }
  }
  if (picked.length === n) return { ok: true, questions: picked };
  if (repeated !== undefined) {
    return { ok: false, problem: `the question ${JSON.stringify(repeated)} appeared twice` };
  }
  return { ok: false, problem: empty ? 'some questions were empty' : `fewer than ${n} distinct questions` };
}

const QUESTION_FIELDS = ['question', 'sub_question', 'subQuestion', 'q', 'text', 'query'] as const;

/** A list item as a question: a string, or an object's question field. */
function asQuestion(item: unknown): string | undefined {
  if (typeof item === 'string') return item;
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return undefined;
  const record = item as Record<string, unknown>;
  for (const field of QUESTION_FIELDS) if (typeof record[field] === 'string') return record[field];
  return undefined;
}

/** The questions `v` is or holds (`{"questions": [...]}`), else undefined. */
function questionList(v: unknown): string[] | undefined {
  const arr =
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.values(v).find((x) => Array.isArray(x))
      : v;
  if (!Array.isArray(arr) || arr.length === 0) return undefined;
  const out = arr.map(asQuestion);
  return out.every((q) => q !== undefined) ? out : undefined;
}

/** Items of a numbered (`1.`, `2)`) or bulleted (`-`, `*`, `•`) list in the text, or undefined. */
function listItems(text: string): string[] | undefined {
  const items: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*(?:\d{1,3}[.)]|[-*•])\s+(.+)$/.exec(line);
    if (m)
      items.push(
        m[1]!
          .replace(/^\*\*(.+?)\*\*:?\s*/, '$1 ')
          .replace(/^["'`]|["'`]$/g, '')
          .trim(),
      );
  }
  return items.length > 0 ? items : undefined;
}

function responseSchema(n: number) {
  return {
    name: 'sub_questions',
    schema: {
      type: 'object',
      properties: {
        questions: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: n, maxItems: n },
      },
      required: ['questions'],
      additionalProperties: false,
    },
  };
}

/**
 * Splits `question` into `n` sub-questions. Never throws for model trouble except a refusal of
 * the key or the model (rethrown: nothing else can succeed); after a failed retry (or an abort, such
 * as its own deadline) it falls back to {@link fallbackSubQuestions} and says why. `n = 1` makes
 * no call.
 */
export async function decompose(options: DecomposeOptions): Promise<DecomposeResult> {
  const { model, modelId, question, n, prompt, temperature, signal, onEvent } = options;
  emitEvent(onEvent, { type: 'decompose_start' });
  const meter = new UsageMeter();
  const done = (r: Omit<DecomposeResult, 'usage'>): DecomposeResult => {
    emitEvent(onEvent, { type: 'decompose_done', ...r });
    return { ...r, usage: meter.total };
  };
  if (n === 1) return done({ subQuestions: [question], fallback: false });

  const messages: ChatMessage[] = [{ role: 'user', content: fillTemplate(prompt, { question, n }) }];
  let problem = '';
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const reply = await chatOnce(
        model,
        {
          model: modelId,
          messages,
          responseSchema: responseSchema(n),
          ...(temperature === undefined ? {} : { temperature }),
          ...(signal ? { signal } : {}),
        },
        { scope: 'decompose', meter, onEvent },
      );
      const check = parseSubQuestions(reply.content, n);
      if (check.ok) return done({ subQuestions: check.questions, fallback: false });
      problem = check.problem;
      messages.push(
        { role: 'assistant', content: reply.content },
        {
          role: 'user',
          content: `That reply was not usable: ${problem}. Reply with only a JSON array of exactly ${n} distinct, non-empty question strings.`,
        },
      );
    } catch (err) {
      // A refused key or model ends the run (fail-fast.ts); the angles would fail the same way.
      if (fatalOf(err) !== undefined) throw err;
      problem = `the decomposition call failed: ${err instanceof Error ? err.message : String(err)}`;
      if (isAbortError(err) || signal?.aborted) break;
    }
  }
  return done({ subQuestions: fallbackSubQuestions(question, n), fallback: true, reason: problem });
}
