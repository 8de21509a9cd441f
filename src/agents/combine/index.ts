/**
 * Combining the agents' answers. `combine()` handles the cases every strategy shares (no answer,
 * one answer, a user abort, a failed combining call falling back to concatenation).
 */
import { isAbortError } from '../../core/errors.ts';
import { UsageMeter } from '../chat-once.ts';
import type { Usage } from '../model.ts';
import type { CombineContext, CombineOutput } from './combine-context.ts';
import { concatAnswers } from './concat.ts';
import { debate } from './debate.ts';
import { judge } from './judge.ts';
import { synthesize } from './synthesize.ts';
import { vote } from './vote.ts';

export type { AgentAnswer, CombineContext, CombineOutput } from './combine-context.ts';
export { boundAnswer, DEFAULT_CONTEXT_TOKENS } from './combine-context.ts';
export { concatAnswers } from './concat.ts';
export { parseVerdict } from './judge.ts';
export { shortAnswer, tallyVotes, VOTE_ANSWER_INSTRUCTION } from './vote.ts';

/** The strategies `--strategy` accepts. */
export const COMBINE_STRATEGIES = ['synthesize', 'judge', 'vote', 'debate', 'concat'] as const;
export type CombineStrategy = (typeof COMBINE_STRATEGIES)[number];

const RUNNERS: Record<Exclude<CombineStrategy, 'concat'>, (ctx: CombineContext) => Promise<CombineOutput>> = {
  synthesize,
  judge,
  vote,
  debate,
};

export interface CombineResult {
  /** Null when no agent succeeded. */
  answer: string | null;
  /** True when the strategy's call failed (or was skipped by an abort) and the answers were concatenated. */
  fallback: boolean;
  note?: string;
  usage: Usage;
}

/**
 * Combines `ctx.answers` with `strategy`. Never throws for model trouble: zero answers give null,
 * one answer is returned as is (no call), and a failed or aborted combining call falls back to
 * {@link concatAnswers} with a note saying so.
 */
export async function combine(
  strategy: CombineStrategy,
  ctx: Omit<CombineContext, 'meter'> & { meter?: UsageMeter },
): Promise<CombineResult> {
  const meter = ctx.meter ?? new UsageMeter();
  const { answers } = ctx;
  if (answers.length === 0)
    return { answer: null, fallback: false, note: 'no agent produced an answer', usage: meter.total };
  if (answers.length === 1) {
    const only = answers[0]!;
    return {
      answer: only.answer,
      fallback: false,
      note:
        only.partial === undefined
          ? `only ${only.id} answered`
          : `only ${only.id} left text, and it is partial (${only.partial})`,
      usage: meter.total,
    };
  }
  if (strategy === 'concat') return { answer: concatAnswers(answers), fallback: false, usage: meter.total };
  if (ctx.signal?.aborted) {
    return {
      answer: concatAnswers(answers),
      fallback: true,
      note: `${strategy} skipped: interrupted`,
      usage: meter.total,
    };
  }
  try {
    const out = await RUNNERS[strategy]({ ...ctx, meter });
    return { ...out, fallback: false, usage: meter.total };
  } catch (err) {
    const why = isAbortError(err) || ctx.signal?.aborted ? 'timed out or interrupted' : errorText(err);
    return {
      answer: concatAnswers(answers),
      fallback: true,
      note: `${strategy} failed (${why}); the answers are concatenated instead`,
      usage: meter.total,
    };
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Type guard for strategy names. */
export function isCombineStrategy(name: string): name is CombineStrategy {
  return (COMBINE_STRATEGIES as readonly string[]).includes(name);
}
