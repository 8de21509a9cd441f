/**
 * `vote` is self-consistency (Wang et al. 2022, "Self-Consistency Improves Chain of Thought
 * Reasoning in Language Models"): every agent gets the SAME question (no decomposition; run-heavy.ts),
 * reasons its own way and ends with a line `Answer: ...`; the most frequent final answer wins.
 */
import type { AgentAnswer, CombineContext, CombineOutput } from './combine-context.ts';
import { judgeBest } from './judge.ts';

/** Appended to every agent's system prompt under `vote`, so the answers can be counted. */
export const VOTE_ANSWER_INSTRUCTION = [
  'Reason step by step as needed. Then end your reply with one last line of exactly this form:',
  'Answer: <your final answer, as short as possible (a number, a name, yes/no, a phrase)>',
].join('\n');

/** `42.0` -> `42`, `+3.50` -> `3.5`, `1,000` -> `1000`; anything else unchanged. Pure. */
function canonicalNumber(text: string): string {
  const plain = /^\d{1,3}(?:,\d{3})+(?:\.\d+)?$/.test(text) ? text.replace(/,/g, '') : text;
  const m = /^([-+]?)(\d+)(?:\.(\d*))?$/.exec(plain);
  if (m === null) return text;
  const int = m[2]!.replace(/^0+(?=\d)/, '');
  const frac = (m[3] ?? '').replace(/0+$/, '');
  const sign = m[1] === '-' && (int !== '0' || frac !== '') ? '-' : '';
  return `${sign}${int}${frac === '' ? '' : `.${frac}`}`;
}

/**
 * The short answer an agent committed to: the text after the last `Answer:` (or `Final answer:`)
 * line when there is one, else the whole text; lower-cased, whitespace collapsed, markdown
 * emphasis, surrounding quotes and trailing punctuation dropped, numbers in one form (42 = 42.0).
 * Pure.
 */
export function shortAnswer(answer: string): string {
  const marked = [...answer.matchAll(/^[\s*_#>-]*(?:final\s+)?answer(?:\*\*)?\s*[:=-]\s*(.+)$/gim)];
  const text = marked.length > 0 ? marked[marked.length - 1]![1]! : answer;
  const cleaned = text
    .toLowerCase()
    .replace(/[*_`]/g, '')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/[.!?;,:]+$/, '')
    .replace(/^["'\u201c\u2018([]+|["'\u201d\u2019)\]]+$/g, '')
    .trim();
  return canonicalNumber(cleaned);
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
  if (leaders.length === 1) {
    const winner = leaders[0]!;
    return {
      answer: winner[0]!.answer,
      note: `vote: ${of} agreed on ${JSON.stringify(shortAnswer(winner[0]!.answer).slice(0, 80))}`,
    };
  }
  const representatives = leaders.map((g) => g[0]!);
  const verdict = await judgeBest(ctx, representatives);
  const winner = representatives[verdict.index]!;
  return {
    answer: winner.answer,
    note: `vote: ${leaders.length}-way tie at ${of}; judge picked ${winner.id}${verdict.reason ? `: ${verdict.reason}` : ''}`,
  };
}
