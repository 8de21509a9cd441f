/**
 * Runs a command to completion and captures its output, bounded in size and time. The child's
 * whole process group is always stopped and reaped before this returns or throws.
 */
import { abortedErrorFrom } from './async.ts';
import { deadline } from './deadline.ts';
import { type ExitInfo, spawnProcess } from './process.ts';

export interface RunCommandOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** After this long the group is stopped and `timedOut` is true. */
  timeoutMs?: number;
  /** Aborting stops the group, then rejects with AbortedError. */
  signal?: AbortSignal;
  /** Cap on captured bytes per stream (the rest is read and dropped); default 1 MiB. */
  maxOutputBytes?: number;
  /** Grace between SIGTERM and SIGKILL when stopping on timeout/abort; default 2000 ms. */
  graceMs?: number;
}

export interface RunCommandResult extends ExitInfo {
  stdout: string;
  stderr: string;
  timedOut: boolean;
  /** True when a stream produced more than maxOutputBytes. */
  truncated: boolean;
}

class Capture {
  readonly #chunks: Buffer[] = [];
  #size = 0;
  truncated = false;
  constructor(readonly max: number) {}
  add = (chunk: Buffer): void => {
    const room = this.max - this.#size;
    if (chunk.length > room) this.truncated = true;
    if (room <= 0) return;
    const kept = chunk.length > room ? chunk.subarray(0, room) : chunk;
    this.#chunks.push(kept);
    this.#size += kept.length;
  };
  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8');
  }
}

/**
 * Runs `argv` (no shell) and resolves with its exit status and captured output. A timeout is a
 * result (`timedOut: true`), not an error; an abort rejects with AbortedError after reaping;
 * a program that cannot start throws MarshalError 'E_PROCESS'.
 */
export async function runCommand(
  argv: readonly string[],
  options: RunCommandOptions = {},
): Promise<RunCommandResult> {
  const { signal, timeoutMs, maxOutputBytes = 1024 * 1024, graceMs = 2000 } = options;
  if (signal?.aborted) throw abortedErrorFrom(signal);
  const out = new Capture(maxOutputBytes);
  const err = new Capture(maxOutputBytes);
  const proc = spawnProcess(argv, {
    ...(options.cwd !== undefined && { cwd: options.cwd }),
    ...(options.env !== undefined && { env: options.env }),
    onStdoutData: out.add,
    onStderrData: err.add,
  });
  let stopped: Promise<unknown> | undefined;
  // One deadline carries the time bound and the caller's signal; whichever ends it stops the group.
  const bound = deadline(timeoutMs, [signal], `${argv[0]}`);
  const stopNow = (): void => {
    stopped ??= proc.stop({ graceMs });
  };
  bound.signal.addEventListener('abort', stopNow, { once: true });
  try {
    const info = await proc.exited;
    // Even after a clean leader exit, members it left behind in the group must not outlive us.
    await (stopped ?? proc.stop({ graceMs }));
    const timedOut = bound.expired;
    if (signal?.aborted && !timedOut) throw abortedErrorFrom(signal);
    return {
      ...info,
      stdout: out.text(),
      stderr: err.text(),
      timedOut,
      truncated: out.truncated || err.truncated,
    };
  } finally {
    bound.clear();
    bound.signal.removeEventListener('abort', stopNow);
  }
}
