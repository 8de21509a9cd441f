/**
 * Writing the final answer to stdout while it streams (`heavy` and `ask` on a terminal, or with
 * `--stream`): the pieces of the answer call (`llm_delta`) are written as they arrive, without
 * inline `<think>` blocks and leading blank space, with control characters neutralised. When the
 * run's answer turns out to differ from what was streamed (a combining call that failed and fell
 * back to concatenation, a judge or vote picking an answer, `mark_task_complete`'s message), the
 * streamed text is closed with a line break and the real answer printed after it.
 */
import { type HeavyEvent, stripThink } from '../agents/index.ts';
import { sanitizeForTerminal } from '../core/index.ts';
import type { Io } from './io.ts';

/** Tail that might be the start of a `<think>` / `</think>` tag: held back until it is decided. */
const PARTIAL_TAG = /<\/?t?h?i?n?k?i?n?g?$/i;

export interface AnswerStream {
  /** Feed every event; returns true when it wrote to stdout. */
  onEvent(e: HeavyEvent): boolean;
  /** True once anything was written. */
  readonly started: boolean;
  /** Ends the output: a line break after streamed text, then `answer` when it differs (or nothing streamed). */
  finish(answer: string | null): void;
}

/**
 * `pick` says which deltas are the answer: for `heavy` the combine step's answer call, for `ask`
 * the agent's replies (each new call of the scope starts a new reply).
 */
export function createAnswerStream(
  io: Io,
  pick: (e: Extract<HeavyEvent, { type: 'llm_delta' }>) => boolean,
  scope?: string,
): AnswerStream {
  let text = '';
  let printed = '';
  let diverged = false;
  let started = false;
  const write = (s: string): void => {
    if (s === '') return;
    started = true;
    io.stdout.write(sanitizeForTerminal(s, true));
  };
  return {
    get started() {
      return started;
    },
    onEvent(e) {
      if (e.type === 'llm_request' && scope !== undefined && e.scope === scope && text !== '') {
        // A new reply of the agent: the previous one (text before its tool calls) stays shown.
        if (!printed.endsWith('\n')) write('\n');
        text = '';
        printed = '';
        diverged = false;
        return false;
      }
      if (e.type !== 'llm_delta' || e.content === undefined || diverged || !pick(e)) return false;
      text += e.content;
      let visible = /<\/?think/i.test(text) ? stripThink(text).content : text;
      visible = visible.trimStart().replace(PARTIAL_TAG, '');
      if (!visible.startsWith(printed)) {
        diverged = true; // e.g. a closing-only </think>: the final answer is printed at the end
        return false;
      }
      const next = visible.slice(printed.length);
      printed = visible;
      write(next);
      return next !== '';
    },
    finish(answer) {
      if (!started) {
        if (answer !== null) io.stdout.write(`${sanitizeForTerminal(answer, true).trimEnd()}\n`);
        return;
      }
      const same = answer !== null && answer.trim() === printed.trim() && !diverged;
      if (same) {
        io.stdout.write('\n');
        return;
      }
      io.stdout.write('\n');
      if (answer !== null) io.stdout.write(`${sanitizeForTerminal(answer, true).trimEnd()}\n`);
    },
  };
}
