import { isAbortError } from '../../core/errors.ts';
import { chatOnce } from '../chat-once.ts';
import { fillTemplate } from '../prompts.ts';
import {
  type AgentAnswer,
  answerShareChars,
  boundAnswer,
  type CombineContext,
  type CombineOutput,
} from './combine-context.ts';
import { synthesize } from './synthesize.ts';

/** One agent's revision after reading the others' answers; a failed call keeps the original answer. */
async function revise(
  ctx: CombineContext,
  own: AgentAnswer,
): Promise<{ answer: AgentAnswer; revised: boolean }> {
  // Every answer (its own included) gets its share of the context.
  const share = answerShareChars(ctx.contextTokens, ctx.answers.length);
  const others = ctx.answers
    .filter((a) => a.id !== own.id)
    .map((a) => `--- ${a.id} (sub-question: ${a.question}) ---\n${boundAnswer(a.answer, share)}`)
    .join('\n\n');
  const content = fillTemplate(ctx.prompts.debate, {
    question: ctx.question,
    sub_question: own.question,
    own_answer: boundAnswer(own.answer, share),
    other_answers: others,
  });
  try {
    const reply = await chatOnce(
      ctx.model,
      {
        model: ctx.agentModelIds?.[own.id] ?? ctx.modelId,
        messages: [
          { role: 'system', content: ctx.prompts.system },
          { role: 'user', content },
        ],
        ...(ctx.temperature === undefined ? {} : { temperature: ctx.temperature }),
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      },
      { scope: 'combine', meter: ctx.meter, onEvent: ctx.onEvent },
    );
    const text = reply.content?.trim() ?? '';
    return text === ''
      ? { answer: own, revised: false }
      : { answer: { ...own, answer: text }, revised: true };
  } catch (err) {
    if (isAbortError(err) || ctx.signal?.aborted) throw err;
    return { answer: own, revised: false };
  }
}

/**
 * The `debate` strategy: one compare-notes round (every agent sees the others' answers and revises,
 * one tool-less call each, in parallel), then a synthesis over the revised answers.
 */
export async function debate(ctx: CombineContext): Promise<CombineOutput> {
  const round = await Promise.all(ctx.answers.map((a) => revise(ctx, a)));
  const revised = round.filter((r) => r.revised).length;
  const result = await synthesize(
    ctx,
    round.map((r) => r.answer),
  );
  return { answer: result.answer, note: `debate: ${revised} of ${round.length} agents revised their answer` };
}
