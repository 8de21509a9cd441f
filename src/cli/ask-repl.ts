/**
 * The `marshal ask` REPL over any streams: a prompt, one answer per line; `quit`, `exit`, `bye` or
 * Ctrl-D leave; Ctrl-C cancels the current answer only (a per-answer AbortController, fed by
 * readline's SIGINT, since a terminal in raw mode delivers Ctrl-C as input, not as a signal).
 */
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

export interface ReplOptions {
  input: Readable;
  /** Where the prompt and readline's echo go (stderr, so stdout keeps only answers). */
  output: Writable;
  /** Treat the input as a terminal (true for a TTY; tests pass true to send Ctrl-C as "\x03"). */
  terminal: boolean;
  prompt?: string;
  /** Answers one question; must honour `signal` (Ctrl-C) and not throw for model trouble. */
  answer(question: string, signal: AbortSignal): Promise<void>;
  /** Ends the REPL (SIGTERM). */
  signal?: AbortSignal | undefined;
}

const LEAVE = new Set(['quit', 'exit', 'bye']);

/** Runs the REPL until the user leaves or `signal` aborts. Resolves to the number of questions answered. */
export async function runRepl(options: ReplOptions): Promise<number> {
  const { output } = options;
  const rl = createInterface({
    input: options.input,
    output,
    terminal: options.terminal,
    prompt: options.prompt ?? 'you> ',
  });
  let current: AbortController | undefined;
  rl.on('SIGINT', () => {
    if (current && !current.signal.aborted) {
      current.abort(new Error('cancelled with Ctrl-C'));
      output.write('\n(cancelled)\n');
    } else {
      output.write('\n(type quit or press Ctrl-D to leave)\n');
      rl.prompt();
    }
  });
  const onAbort = () => rl.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  let answered = 0;
  try {
    rl.prompt();
    for await (const raw of rl) {
      const line = raw.trim();
      if (LEAVE.has(line.toLowerCase())) break;
      if (line !== '') {
        current = new AbortController();
        try {
          await options.answer(line, current.signal);
          answered++;
        } finally {
          current = undefined;
        }
      }
      if (options.signal?.aborted) break;
      rl.prompt();
    }
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    rl.close();
  }
  return answered;
}
