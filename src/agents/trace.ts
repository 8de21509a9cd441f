/**
 * The `--trace` sink: every {@link HeavyEvent} as one JSON line, through the core JSONL logger
 * (control characters neutralised, secrets redacted, including the API key in use), enough to
 * audit or replay a run: a first `trace_start` line with the run id, then every event with that
 * run id and a sequence number: the decomposition request and reply (`llm_request` /
 * `llm_response` with `reply`, scope `decompose`), each agent's steps (its requests, replies, tool
 * calls and the tool results sent back), the combine input (`combine_start.answers`), the
 * combining calls and the final answer (`run_done.answer`).
 *
 * A file the user names is never rotated: a run's trace is one file, whatever its size. A new
 * trace replaces the file atomically (an empty file renamed over it, so a reader sees the old
 * trace or the new one, and a symlink at the path is replaced, not followed); `append` keeps the
 * old lines and adds this run's after them (each run has its own run id).
 */
import { randomUUID } from 'node:crypto';
import { closeSync, mkdirSync, openSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { createJsonlLogger } from '../core/jsonl-logger.ts';
import type { EventSink } from './events.ts';

/** Version of the trace's line format (`trace_start.traceVersion`). */
export const TRACE_VERSION = 2;

export interface TraceSink {
  /** This run's id, on every line. */
  readonly runId: string;
  onEvent: EventSink;
  close(): Promise<void>;
}

export interface TraceOptions {
  /** Secret values to redact wherever they appear (pass the API key). */
  known?: readonly string[];
  /** Add this run's lines after the file's (default: start a new file). */
  append?: boolean;
  /** Default a random UUID. */
  runId?: string;
}

/** Replaces `path` by an empty file, atomically (temp file in the same directory, then rename). */
function startEmpty(path: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomUUID().slice(0, 8)}.tmp`);
  closeSync(openSync(tmp, 'wx', 0o600));
  try {
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/**
 * Opens a trace file.
 *
 * @example
 * const trace = createTraceSink('run.jsonl', { known: apiKey ? [apiKey] : [] });
 * await runHeavy(q, { ...options, onEvent: trace.onEvent });
 * await trace.close();
 */
export function createTraceSink(path: string, options: TraceOptions = {}): TraceSink {
  if (options.append !== true) startEmpty(path);
  // No rotation: the user named this file, and a rotated trace loses the start of the run.
  const logger = createJsonlLogger(path, {
    known: [...(options.known ?? [])],
    maxBytes: Number.MAX_SAFE_INTEGER,
    maxFiles: 1,
  });
  const runId = options.runId ?? randomUUID();
  let seq = 0;
  let closed = false;
  logger.log({ type: 'trace_start', runId, seq: seq++, traceVersion: TRACE_VERSION });
  return {
    runId,
    onEvent: (event) => {
      if (closed) return;
      logger.log({ runId, seq: seq++, ...event });
    },
    close: async () => {
      closed = true;
      logger.close();
    },
  };
}
