import { type AgentAnswer, partialLabel } from './combine-context.ts';

/**
 * The `concat` strategy and the fallback of every other one: the answers one after another, each
 * under its sub-question. No LLM call.
 */
export function concatAnswers(answers: readonly AgentAnswer[]): string {
  return answers.map((a) => `## ${a.id}${partialLabel(a)}: ${a.question}\n\n${a.answer.trim()}`).join('\n\n');
}
