/**
 * The `--trace` sink: every {@link HeavyEvent} as one JSON line, through the core JSONL logger
 * (control characters neutralised, secrets redacted, including the API key in use).
 */
import { createJsonlLogger } from '../core/jsonl-logger.ts';
import type { EventSink } from './events.ts';

export interface TraceSink {
  onEvent: EventSink;
  close(): Promise<void>;
}

/**
 * Opens a trace file. `known` lists secret values to redact wherever they appear (pass the API key).
 *
 * @example
 * const trace = createTraceSink('run.jsonl', { known: apiKey ? [apiKey] : [] });
 * await runHeavy(q, { ...options, onEvent: trace.onEvent });
 * await trace.close();
 */
export function createTraceSink(path: string, options: { known?: readonly string[] } = {}): TraceSink {
  const logger = createJsonlLogger(path, { known: [...(options.known ?? [])] });
  return {
    onEvent: (event) => {
      logger.log({ ...event });
    },
    close: async () => {
      logger.close();
    },
  };
}
