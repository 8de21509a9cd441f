/**
 * GET /logs of the control API: the last n entries of the JSONL log, or with `follow=1` a live
 * stream of entries as chunked JSONL (one JSON object per line) until the client disconnects or
 * the API closes.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { deadline } from '../core/deadline.ts';
import { followLines, readLastLines } from './log-follow.ts';

/** Default and largest number of tail lines served. */
export const LOG_TAIL_DEFAULT = 80;
export const LOG_TAIL_MAX = 10_000;

/** One log line as an object: the parsed JSON record, or `{message}` for a line that is not JSON. */
export function parseLogLine(line: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(line);
    if (value !== null && typeof value === 'object' && !Array.isArray(value))
      return value as Record<string, unknown>;
  } catch {
    // Not JSON (e.g. a line written by an older writer): served as a plain message.
  }
  return { message: line };
}

export async function handleLogs(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  logFile: string,
  closing: AbortSignal,
  intervalMs: number,
): Promise<void> {
  const nText = url.searchParams.get('n');
  const n = nText === null ? LOG_TAIL_DEFAULT : Number(nText);
  if (!Number.isInteger(n) || n < 0 || n > LOG_TAIL_MAX) {
    const text = `${JSON.stringify({ error: 'invalid_n', message: `n must be an integer from 0 to ${LOG_TAIL_MAX}` })}\n`;
    res.writeHead(400, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
    res.end(text);
    return;
  }
  const tail = (await readLastLines(logFile, n)).map(parseLogLine);
  const follow = ['1', 'true', 'yes'].includes(url.searchParams.get('follow') ?? '');
  if (!follow) {
    const text = `${JSON.stringify({ logs: tail })}\n`;
    res.writeHead(200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
      'cache-control': 'no-store',
    });
    res.end(text);
    return;
  }
  const gone = new AbortController();
  res.on('close', () => gone.abort());
  req.socket.setTimeout(0);
  res.writeHead(200, {
    'content-type': 'application/x-ndjson; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  for (const entry of tail) res.write(`${JSON.stringify(entry)}\n`);
  const until = deadline(undefined, [gone.signal, closing], 'log follow');
  const { signal } = until;
  try {
    await stream(res, logFile, signal, intervalMs);
  } finally {
    until.clear();
  }
  res.end();
}

async function stream(
  res: ServerResponse,
  logFile: string,
  signal: AbortSignal,
  intervalMs: number,
): Promise<void> {
  for await (const line of followLines(logFile, { signal, intervalMs, from: 'end' })) {
    if (!res.write(`${JSON.stringify(parseLogLine(line))}\n`)) {
      // A slow reader: wait for the socket to drain (or the stream to end).
      await new Promise<void>((resolve) => {
        const done = (): void => {
          res.off('drain', done);
          signal.removeEventListener('abort', done);
          resolve();
        };
        res.once('drain', done);
        signal.addEventListener('abort', done, { once: true });
      });
    }
  }
}
