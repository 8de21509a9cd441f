/**
 * Splits a byte stream into text lines: UTF-8 decoded across chunk boundaries, LF or CRLF endings,
 * the partial last line delivered at the end, and every line capped so that a child writing
 * megabytes without a newline cannot exhaust our memory.
 */
import { StringDecoder } from 'node:string_decoder';

/** Default cap on one line, in UTF-16 code units (64 Ki). */
export const DEFAULT_MAX_LINE_LENGTH = 64 * 1024;

export interface LineSplitter {
  /** Feeds a chunk; complete lines are delivered synchronously. */
  push(chunk: Buffer | string): void;
  /** Delivers the partial last line, if any. Idempotent. */
  end(): void;
}

/**
 * Creates a {@link LineSplitter} calling `onLine` per line (without its `\n` / `\r\n`). A line
 * longer than `maxLineLength` is delivered truncated to that length as soon as the cap is reached,
 * and the rest of it, up to the next newline, is dropped.
 */
export function createLineSplitter(
  onLine: (line: string) => void,
  maxLineLength = DEFAULT_MAX_LINE_LENGTH,
): LineSplitter {
  const decoder = new StringDecoder('utf8');
  let partial = '';
  let discarding = false;
  let ended = false;

  const deliver = (line: string): void => {
    onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
  };

  const feed = (text: string): void => {
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      const piece = text.slice(start, nl);
      start = nl + 1;
      if (discarding) {
        discarding = false;
        partial = '';
        continue;
      }
      const line = partial + piece;
      partial = '';
      // A capped line that ends right here was already delivered; only the cap check remains.
      deliver(line.length > maxLineLength ? line.slice(0, maxLineLength) : line);
    }
    if (discarding) return;
    partial += text.slice(start);
    if (partial.length > maxLineLength) {
      deliver(partial.slice(0, maxLineLength));
      partial = '';
      discarding = true;
    }
  };

  return {
    push(chunk) {
      if (ended) return;
      feed(typeof chunk === 'string' ? chunk : decoder.write(chunk));
    },
    end() {
      if (ended) return;
      ended = true;
      const rest = decoder.end();
      if (rest) feed(rest);
      if (!discarding && partial !== '') deliver(partial);
      partial = '';
    },
  };
}
