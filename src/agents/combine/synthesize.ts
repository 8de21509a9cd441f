import { chatOnce } from '../chat-once.ts';
import { fillTemplate } from '../prompts.ts';
import {
  type AgentAnswer,
  type CombineContext,
  type CombineOutput,
  formatAnswers,
} from './combine-context.ts';

/**
 * The `synthesize` strategy: one call that sees the original question and every answer, labelled
 * with its sub-question. Throws when the call fails or returns nothing (the caller falls back).
 */
export async function synthesize(
  ctx: CombineContext,
  answers: readonly AgentAnswer[] = ctx.answers,
): Promise<CombineOutput> {
  const content = fillTemplate(ctx.prompts.synthesize, {
    question: ctx.question,
    num_responses: answers.length,
    agent_responses: formatAnswers(answers, ctx.contextTokens),
  });
  const reply = await chatOnce(
    ctx.model,
    {
      model: ctx.modelId,
      messages: [{ role: 'user', content }],
      ...(ctx.temperature === undefined ? {} : { temperature: ctx.temperature }),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    },
    { scope: 'combine', meter: ctx.meter, onEvent: ctx.onEvent, answer: true },
  );
  const text = reply.content?.trim() ?? '';
  if (text === '') throw new Error('the synthesis reply was empty');
  return { answer: text };
}
