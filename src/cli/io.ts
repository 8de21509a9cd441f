import type { Readable, Writable } from 'node:stream';

/** Everything a command may touch of the outside world. `bin/marshal.js` builds the real one; tests build their own. */
export interface Io {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Whether each stream is an interactive terminal. */
  isTTY: { stdin: boolean; stdout: boolean; stderr: boolean };
  /** Terminal width in columns when stdout or stderr is a TTY. */
  columns?: number;
}

/** Whether human output on `stream` may use colour (NO_COLOR, FORCE_COLOR, TTY). */
export function useColor(io: Io, stream: 'stdout' | 'stderr'): boolean {
  if (io.env.NO_COLOR !== undefined && io.env.NO_COLOR !== '') return false;
  if (io.env.FORCE_COLOR !== undefined && io.env.FORCE_COLOR !== '0') return true;
  if (io.env.TERM === 'dumb') return false;
  return io.isTTY[stream];
}

/** Minimal ANSI styling that becomes identity when colour is off. */
export function styler(enabled: boolean) {
  const wrap = (open: number, close: number) => (s: string) =>
    enabled ? `\x1b[${open}m${s}\x1b[${close}m` : s;
  return {
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}
export type Styler = ReturnType<typeof styler>;

/** Writes a line to a stream. */
export function println(stream: Writable, line = ''): void {
  stream.write(`${line}\n`);
}

/** The stdout streams that a JSON document was printed on during the current run. */
const documents = new WeakSet<Writable>();

/**
 * Prints the run's JSON document on stdout (the `--json` convention: exactly one per run). The
 * frame remembers it, so an error raised after it (or an exit code returned with it, as
 * `heavy --json` does for "no answer") never adds a second, error document.
 */
export function printJson(io: Io, value: unknown): void {
  documents.add(io.stdout);
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Whether {@link printJson} printed a document on `io.stdout` since {@link forgetDocument}. */
export function hasPrintedDocument(io: Io): boolean {
  return documents.has(io.stdout);
}

/** Starts a new run on `io.stdout` (called by the frame before each command). */
export function forgetDocument(io: Io): void {
  documents.delete(io.stdout);
}
