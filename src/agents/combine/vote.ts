import type { AgentAnswer, CombineContext, CombineOutput } from './combine-context.ts';
import { judgeBest } from './judge.ts';

/**
 * The short answer an agent committed to: the last `Answer: ...` / `Final answer: ...` line when
 * there is one, else the whole text; lower-cased, whitespace collapsed, trailing punctuation and
 * markdown emphasis dropped. Pure.
 */
export function shortAnswer(answer: string): string {
  const marked = [...answer.matchAll(/^\s*(?:\*\*)?(?:final\s+)?answer(?:\*\*)?\s*[:=-]\s*(.+)$/gim)];
  const text = marked.length > 0 ? marked[marked.length - 1]![1]! : answer;
  return text
    .toLowerCase()
    .replace(/[*_`]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[.!?;,:]+$/, '');
}

/** Groups answers by short answer; `leaders` are the groups with the most votes (more than one on a tie). Pure. */
export function tallyVotes(answers: readonly AgentAnswer[]): {
  groups: AgentAnswer[][];
  leaders: AgentAnswer[][];
} {
  const byKey = new Map<string, AgentAnswer[]>();
  for (const a of answers) {
    const key = shortAnswer(a.answer);
    const group = byKey.get(key);
    if (group) group.push(a);
    else byKey.set(key, [a]);
  }
  const groups = [...byKey.values()];
  const top = Math.max(...groups.map((g) => g.length));
  return { groups, leaders: groups.filter((g) => g.length === top) };
}

/**
 * The `vote` strategy: the answer most agents agree on (after normalisation); a tie between the
 * leading groups is broken by a judge call over one representative of each.
 */
export async function vote(ctx: CombineContext): Promise<CombineOutput> {
  const { leaders } = tallyVotes(ctx.answers);
  const size = leaders[0]!.length;
  const of = `${size} of ${ctx.answers.length} agents`;
  if (leaders.length === 1) return { answer: leaders[0]![0]!.answer, note: `vote: ${of} agreed` };
  const representatives = leaders.map((g) => g[0]!);
  const verdict = await judgeBest(ctx, representatives);
  const winner = representatives[verdict.index]!;
  return {
    answer: winner.answer,
    note: `vote: ${leaders.length}-way tie at ${of}; judge picked ${winner.id}${verdict.reason ? `: ${verdict.reason}` : ''}`,
  };
}
