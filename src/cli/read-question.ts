/**
 * Reading a question piped on stdin (`marshal ask`, `marshal heavy -`), bounded: reading stops as
 * soon as the input passes the cap, so `marshal ask < /dev/zero` costs at most the cap.
 */
import type { Readable } from 'node:stream';
import { CORE_ERRORS, formatBytes, UsageError } from '../core/index.ts';

/** Largest question accepted on stdin. */
export const MAX_STDIN_QUESTION_BYTES = 256 * 1024;

/** The text on `stdin`, trimmed. Throws a UsageError (exit 2) past `maxBytes`. */
export async function readQuestion(
  stdin: Readable,
  command: string,
  maxBytes = MAX_STDIN_QUESTION_BYTES,
): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > maxBytes) {
      // Leaving the loop destroys the stream: nothing more is read.
      throw new UsageError(
        `marshal ${command}: the question on stdin is larger than the ${formatBytes(maxBytes)} limit`,
        {
          code: CORE_ERRORS.E_INVALID_INPUT,
          details: { field: 'stdin', maxBytes },
          hint: 'put long material in a file inside the workspace and ask about it (read_file)',
        },
      );
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8').trim();
}
