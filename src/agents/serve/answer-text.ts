/**
 * The visible text of an answer while it streams: pieces joined, inline `<think>` blocks and
 * leading blank space left out, a tail that may be the start of a tag held back until decided.
 * It only ever grows; when the text seen so far stops being a prefix of what was sent (a
 * closing-only `</think>` arriving late), it reports that it diverged. Pure.
 */
import { stripThink } from '../strip-think.ts';

const PARTIAL_TAG = /<\/?t?h?i?n?k?i?n?g?$/i;

export interface AnswerText {
  /** Adds a piece; returns the new visible text to send ('' when none). */
  push(piece: string): string;
  /** Starts a new reply (ask: the agent's next call); the text sent so far stays sent. */
  nextReply(): void;
  /** Everything sent. */
  readonly sent: string;
  /** The current reply's visible text. */
  readonly reply: string;
  readonly diverged: boolean;
}

export function createAnswerText(): AnswerText {
  let raw = '';
  let reply = '';
  let sent = '';
  let diverged = false;
  return {
    push(piece) {
      if (diverged) return '';
      raw += piece;
      let visible = /<\/?think/i.test(raw) ? stripThink(raw).content : raw;
      visible = visible.trimStart().replace(PARTIAL_TAG, '');
      if (!visible.startsWith(reply)) {
        diverged = true;
        return '';
      }
      let next = visible.slice(reply.length);
      reply = visible;
      if (next !== '' && sent !== '' && reply.length === next.length) next = `\n\n${next}`;
      sent += next;
      return next;
    },
    nextReply() {
      raw = '';
      reply = '';
    },
    get sent() {
      return sent;
    },
    get reply() {
      return reply;
    },
    get diverged() {
      return diverged;
    },
  };
}

/**
 * What to send after the stream ended so that the client holds the final `answer`: the rest when
 * what was sent is its beginning, else (a fallback, a judge's pick, mark_task_complete's message)
 * the whole answer after a blank line. '' when it is complete.
 */
export function remainderOf(text: AnswerText, answer: string): string {
  const want = answer.trim();
  if (text.diverged) return text.sent === '' ? want : `\n\n${want}`;
  if (text.reply.trim() === want) return '';
  if (want.startsWith(text.reply) && text.reply !== '' && text.sent.endsWith(text.reply)) {
    return want.slice(text.reply.length);
  }
  return text.sent === '' ? want : `\n\n${want}`;
}
