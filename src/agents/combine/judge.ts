import { chatOnce } from '../chat-once.ts';
import { extractJson } from '../extract-json.ts';
import { fillTemplate } from '../prompts.ts';
import {
  type AgentAnswer,
  type CombineContext,
  type CombineOutput,
  formatAnswers,
} from './combine-context.ts';

/** A judge's verdict: the 0-based index of the best candidate and why. */
export interface Verdict {
  index: number;
  reason: string;
}

/**
 * Reads `{"best": k, "reason": "..."}` (k numbered from 1, as the prompt shows them) from a reply,
 * tolerating fences and prose. Pure; undefined when the reply holds no valid verdict.
 */
export function parseVerdict(text: string | null, count: number): Verdict | undefined {
  if (text === null) return undefined;
  const isVerdict = (v: unknown): v is { best: unknown; reason?: unknown } =>
    v !== null && typeof v === 'object' && 'best' in v;
  const found = extractJson(text, isVerdict);
  if (!isVerdict(found)) return undefined;
  const best = typeof found.best === 'string' ? Number(found.best) : found.best;
  if (typeof best !== 'number' || !Number.isInteger(best) || best < 1 || best > count) return undefined;
  return { index: best - 1, reason: typeof found.reason === 'string' ? found.reason.trim() : '' };
}

/** Asks the judge to pick the best of `candidates`. Throws when the call fails or the verdict is unusable. */
export async function judgeBest(ctx: CombineContext, candidates: readonly AgentAnswer[]): Promise<Verdict> {
  const content = fillTemplate(ctx.prompts.judge, {
    question: ctx.question,
    num_responses: candidates.length,
    agent_responses: formatAnswers(candidates, ctx.contextTokens),
  });
  const reply = await chatOnce(
    ctx.model,
    {
      model: ctx.modelId,
      messages: [{ role: 'user', content }],
      responseSchema: {
        name: 'verdict',
        schema: {
          type: 'object',
          properties: {
            best: { type: 'integer', minimum: 1, maximum: candidates.length },
            reason: { type: 'string' },
          },
          required: ['best', 'reason'],
          additionalProperties: false,
        },
      },
      ...(ctx.temperature === undefined ? {} : { temperature: ctx.temperature }),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    },
    { scope: 'combine', meter: ctx.meter, onEvent: ctx.onEvent },
  );
  const verdict = parseVerdict(reply.content, candidates.length);
  if (!verdict) {
    throw new Error(`the judge did not return {"best": 1..${candidates.length}, "reason": ...}`);
  }
  return verdict;
}

/** The `judge` strategy: the best answer, verbatim, with the judge's reason as the note. */
export async function judge(ctx: CombineContext): Promise<CombineOutput> {
  const verdict = await judgeBest(ctx, ctx.answers);
  const best = ctx.answers[verdict.index]!;
  return {
    answer: best.answer,
    note: `judge picked ${best.id}${verdict.reason ? `: ${verdict.reason}` : ''}`,
  };
}
