/**
 * A closed stdout (`marshal status | head -1`) is the reader saying "enough", not a failure: Node
 * ignores SIGPIPE, so the next write fails with EPIPE, emitted as an 'error' event that would
 * otherwise crash the process with a stack trace. The frame watches stdout, aborts the run when
 * the reader goes away, and ends quietly with exit 0.
 */
import type { Writable } from 'node:stream';

/** The state of the run's stdout. */
export interface StdoutWatch {
  /** Aborts when stdout can no longer be written. */
  readonly signal: AbortSignal;
  /** True once the reader closed the pipe (EPIPE and the like): end quietly with exit 0. */
  readonly closedByReader: boolean;
  /** Another write error (EIO, ...), to report on stderr. */
  readonly failure: Error | undefined;
}

const READER_GONE = new Set(['EPIPE', 'ECONNRESET', 'ERR_STREAM_DESTROYED', 'ERR_STREAM_WRITE_AFTER_END']);

/** One watch per stream: a closed pipe stays closed, and repeated runs add no listeners. */
const watches = new WeakMap<Writable, StdoutWatch>();

/**
 * Watches `stream` for write errors. The listener is never removed: an EPIPE from the last write
 * is emitted on a later tick, possibly after the run has returned, and must still be caught.
 */
export function watchStdout(stream: Writable): StdoutWatch {
  let watch = watches.get(stream);
  if (watch === undefined) {
    watch = startWatch(stream);
    watches.set(stream, watch);
  }
  return watch;
}

function startWatch(stream: Writable): StdoutWatch {
  const controller = new AbortController();
  let closedByReader = false;
  let failure: Error | undefined;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (controller.signal.aborted) return;
    if (READER_GONE.has(err.code ?? '')) closedByReader = true;
    else failure = err;
    controller.abort(err);
  });
  return {
    signal: controller.signal,
    get closedByReader() {
      return closedByReader;
    },
    get failure() {
      return failure;
    },
  };
}
