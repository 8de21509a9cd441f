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
 * Parses a model's reply (a JSON array, possibly in fences or prose, or an object holding one) and
 * checks it holds exactly `n` non-empty, distinct questions. Pure.
 */
export function parseSubQuestions(text: string | null, n: number): SubQuestionCheck {
  if (text === null || text.trim() === '') return { ok: false, problem: 'the reply was empty' };
  const found = extractJson(text, (v) => stringList(v) !== undefined);
  const list = stringList(found);
  if (list === undefined) return { ok: false, problem: 'the reply did not contain a JSON array of strings' };
  const questions = list.map((q) => q.trim());
  if (questions.length !== n) {
    return { ok: false, problem: `it had ${questions.length} questions instead of exactly ${n}` };
  }
  if (questions.some((q) => q === '')) return { ok: false, problem: 'some questions were empty' };
  const seen = new Set<string>();
  for (const q of questions) {
    const key = normalizeQuestion(q);
    if (seen.has(key)) return { ok: false, problem: `the question ${JSON.stringify(q)} appeared twice` };
    seen.add(key);
  }
  return { ok: true, questions };
}

/** The array of strings `v` is or holds (`{"questions": [...]}`), else undefined. */
function stringList(v: unknown): string[] | undefined {
  const arr =
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.values(v).find((x) => Array.isArray(x))
      : v;
  return Array.isArray(arr) && arr.length > 0 && arr.every((q) => typeof q === 'string') ? arr : undefined;
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
 * Splits `question` into `n` sub-questions. Never throws for model trouble: after a failed retry
 * (or an abort) it falls back to {@link fallbackSubQuestions} and says why. `n = 1` makes no call.
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
      problem = `the decomposition call failed: ${err instanceof Error ? err.message : String(err)}`;
      if (isAbortError(err) || signal?.aborted) break;
    }
  }
  return done({ subQuestions: fallbackSubQuestions(question, n), fallback: true, reason: problem });
}
