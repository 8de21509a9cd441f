/**
 * Child processes done carefully: argv only (never a shell), each child leading its own process
 * group, output streamed by line, and `stop` = SIGTERM to the group, a grace period, SIGKILL,
 * then wait until the leader has exited AND no member of the group is left running.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Writable } from 'node:stream';
import { abortedErrorFrom, deferred, sleep } from './async.ts';
import { deadline } from './deadline.ts';
import { CORE_ERRORS, InvalidInputError, MarshalError, TimeoutError } from './errors.ts';
import { findProgram } from './find-program.ts';
import { createLineSplitter, DEFAULT_MAX_LINE_LENGTH } from './line-splitter.ts';
import { killProcessGroup, terminateProcessGroup } from './process-group.ts';

/** How a process ended: exactly one of `code` / `signal` is non-null. */
export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Result of {@link ManagedProcess.stop}: `forced` when SIGKILL was needed (leader or group). */
export interface StopResult extends ExitInfo {
  forced: boolean;
}

export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Raw output chunks (used by runCommand to capture bytes exactly). */
  onStdoutData?: (chunk: Buffer) => void;
  onStderrData?: (chunk: Buffer) => void;
  /** Default 'ignore'. With 'pipe', write to {@link ManagedProcess.stdin}. */
  stdin?: 'ignore' | 'pipe';
  /** Run through `setpriv --pdeathsig KILL` so the child dies if we are SIGKILLed (Linux, util-linux). */
  pdeathsig?: boolean;
  /** Cap on one streamed line (longer lines are truncated); default 64 Ki characters. */
  maxLineLength?: number;
  /**
   * Wraps the synchronous fork/exec: `around(spawnNow)` must call `spawnNow` once, synchronously,
   * and return its result. The supervisor uses it to start the child inside a cgroup (it moves
   * itself into the cgroup just around the spawn, so the child is born there; see
   * src/supervisor/cgroup.ts).
   */
  around?: (spawnNow: () => ChildProcess) => ChildProcess;
}

export interface ManagedProcess {
  /** PID of the child, also its process-group id. */
  readonly pid: number;
  readonly argv: readonly string[];
  /** True when the child really runs under pdeathsig (setpriv was found). */
  readonly pdeathsig: boolean;
  readonly stdin: Writable | null;
  /** Settles once the leader has exited and its output has been delivered. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM to the group, `graceMs` (default 5000), SIGKILL to the group; resolves when all are gone. */
  stop(options?: { graceMs?: number }): Promise<StopResult>;
  /** Signals the whole group; false when it no longer exists. */
  signalGroup(sig: NodeJS.Signals): boolean;
}

const SETPRIV = '/usr/bin/setpriv';
/** Once the leader exited, how long to wait for another holder of its stdout/stderr to close them. */
const DRAIN_MS = 100;

function validateArgv(argv: unknown): asserts argv is readonly [string, ...string[]] {
  const ok =
    Array.isArray(argv) &&
    argv.length > 0 &&
    argv.every((a) => typeof a === 'string' && !a.includes('\0')) &&
    argv[0] !== '';
  if (!ok) throw new InvalidInputError('argv', argv, 'expected a non-empty array of strings without NUL');
}

/**
 * Starts `argv` (argv[0] is the program, searched in PATH) in a new process group, without a shell.
 * Throws MarshalError 'E_PROCESS' naming the program when it cannot be started.
 *
 * @example
 * const p = spawnProcess(['node', 'server.mjs'], { onStdoutLine: (l) => log(l), pdeathsig: true });
 * const info = await p.stop({ graceMs: 2000 });
 */
export function spawnProcess(argv: readonly string[], options: SpawnOptions = {}): ManagedProcess {
  validateArgv(argv);
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const found = findProgram(argv[0], cwd, env);
  if (!found.ok) {
    const why = found.code === 'ENOENT' ? 'not found' : 'not executable';
    throw new MarshalError(
      CORE_ERRORS.E_PROCESS,
      `cannot start ${JSON.stringify(argv[0])}: ${why} (${found.code})`,
      {
        details: { program: argv[0], errno: found.code },
      },
    );
  }
  const usePdeathsig = options.pdeathsig === true && existsSync(SETPRIV);
  const cmd = usePdeathsig ? [SETPRIV, '--pdeathsig', 'KILL', '--', ...argv] : [...argv];
  let child: ChildProcess;
  const spawnNow = (): ChildProcess =>
    spawn(cmd[0]!, cmd.slice(1), {
      cwd,
      env,
      shell: false,
      detached: true,
      stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    });
  try {
    child = options.around ? options.around(spawnNow) : spawnNow();
  } catch (cause) {
    throw new MarshalError(
      CORE_ERRORS.E_PROCESS,
      `cannot start ${JSON.stringify(argv[0])}: ${String(cause)}`,
      {
        cause,
        details: { program: argv[0] },
      },
    );
  }
  const spawnError = deferred<Error>();
  child.on('error', (err) => spawnError.resolve(err));
  if (child.pid === undefined) {
    throw new MarshalError(CORE_ERRORS.E_PROCESS, `cannot start ${JSON.stringify(argv[0])}`, {
      details: { program: argv[0] },
    });
  }
  const pid = child.pid;
  const maxLine = options.maxLineLength ?? DEFAULT_MAX_LINE_LENGTH;
  const streamsClosed: Promise<void>[] = [];
  for (const [stream, onLine, onData] of [
    [child.stdout, options.onStdoutLine, options.onStdoutData],
    [child.stderr, options.onStderrLine, options.onStderrData],
  ] as const) {
    if (!stream) continue;
    const splitter = onLine ? createLineSplitter(onLine, maxLine) : undefined;
    // Always consume the pipe, or a chatty child blocks once the pipe buffer is full.
    stream.on('data', (chunk: Buffer) => {
      onData?.(chunk);
      splitter?.push(chunk);
    });
    const closed = deferred<void>();
    stream.on('close', () => {
      splitter?.end();
      closed.resolve();
    });
    stream.on('error', () => closed.resolve());
    streamsClosed.push(closed.promise);
  }

  const leaderExit = deferred<ExitInfo>();
  child.on('exit', (code, signal) => leaderExit.resolve({ code, signal }));
  // A spawn error after a pid was assigned still means the leader is gone.
  void spawnError.promise.then(() => leaderExit.resolve({ code: null, signal: null }));
  const exited = leaderExit.promise.then(async (info) => {
    // Let buffered output arrive, unless a grandchild holds the pipes open.
    const drain = new AbortController();
    await Promise.race([
      Promise.all(streamsClosed),
      sleep(DRAIN_MS, { signal: drain.signal }).catch(() => {}),
    ]);
    drain.abort();
    return info;
  });

  const signalGroup = (sig: NodeJS.Signals): boolean => killProcessGroup(pid, sig);

  let stopping: Promise<StopResult> | undefined;
  const stop = ({ graceMs = 5000 }: { graceMs?: number } = {}): Promise<StopResult> => {
    stopping ??= terminateProcessGroup(pid, exited, { graceMs, label: argv[0] }).then(async ({ forced }) => ({
      ...(await exited),
      forced,
    }));
    return stopping;
  };

  return { pid, argv: [...argv], pdeathsig: usePdeathsig, stdin: child.stdin, exited, stop, signalGroup };
}

/**
 * Waits for `proc` to exit without stopping it. Rejects with AbortedError when `signal` aborts or
 * TimeoutError after `timeoutMs`; the process keeps running in both cases.
 */
export async function waitForExit(
  proc: Pick<ManagedProcess, 'exited'>,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<ExitInfo> {
  const { signal, timeoutMs } = options;
  if (signal?.aborted) throw abortedErrorFrom(signal);
  const bound = deadline(timeoutMs, [signal], 'process exit');
  const ended = new Promise<'ended'>((resolve) => {
    bound.signal.addEventListener('abort', () => resolve('ended'), { once: true });
  });
  try {
    const won = await Promise.race([proc.exited, ended]);
    if (won !== 'ended') return won;
    if (bound.expired) throw new TimeoutError(`process did not exit within ${timeoutMs} ms`);
    throw abortedErrorFrom(bound.signal);
  } finally {
    bound.clear();
  }
}
