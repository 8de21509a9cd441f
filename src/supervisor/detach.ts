/**
 * Starting a supervisor in the background: `node bin/marshal.js supervise ...` in its own session
 * (so a terminal's Ctrl-C or hang-up does not reach it), stdin closed, stdout and stderr appended
 * to `.metadata/orchestrator.log`, unreferenced so the caller can exit. The caller then waits,
 * bounded, until the new process shows it is up; a start that dies or stalls is reported with
 * the tail of its log, and a stalled one is terminated so nothing is left behind.
 */

import { spawn } from 'node:child_process';
import { open } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sleep } from '../core/async.ts';
import { deadline } from '../core/deadline.ts';
import { MarshalError } from '../core/errors.ts';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';
import { readLastLines } from './log-follow.ts';

/** The CLI entry point a detached supervisor runs. */
export const MARSHAL_BIN: string = fileURLToPath(new URL('../../bin/marshal.js', import.meta.url));

export interface DetachOptions {
  /** The Node binary (the CLI passes `process.execPath`). */
  execPath: string;
  /** Arguments after `bin/marshal.js` (e.g. `supervise --workspace W --env E`). */
  args: string[];
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  /** Where the process's stdout and stderr are appended. */
  logFile: string;
  /**
   * Whether the started process is up; called every `pollMs` with its pid. Typically: its pid
   * file names it, or its control API answers /health with its pid.
   */
  isUp(pid: number, signal: AbortSignal): Promise<boolean>;
  /** Bound on the wait; default 20 s. */
  timeoutMs?: number;
  pollMs?: number;
  signal?: AbortSignal;
  /** Override of the CLI script (tests). */
  script?: string;
}

/** Spawns the detached process and resolves with its pid once `isUp` says so. */
export async function spawnDetached(options: DetachOptions): Promise<{ pid: number }> {
  const log = await open(options.logFile, 'a', 0o600);
  let child: ReturnType<typeof spawn>;
  let spawned: Promise<number>;
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  try {
    child = spawn(options.execPath, [options.script ?? MARSHAL_BIN, ...options.args], {
      cwd: options.cwd,
      env: options.env as NodeJS.ProcessEnv,
      detached: true,
      stdio: ['ignore', log.fd, log.fd],
      shell: false,
    });
    // Listen before any await: 'spawn' / 'error' fire on the next tick.
    spawned = new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', (err) =>
        reject(
          new MarshalError(
            SUPERVISOR_ERRORS.E_DETACH_FAILED,
            `could not start ${options.execPath}: ${err.message}`,
            {
              cause: err,
            },
          ),
        ),
      );
    });
    child.once('exit', (code, sig) => {
      exited = { code, signal: sig };
    });
  } finally {
    await log.close();
  }
  const pid = await spawned;
  child.unref();
  const wait = deadline(options.timeoutMs ?? 20_000, [options.signal], 'the detached supervisor start');
  try {
    for (;;) {
      if (exited) {
        const how = exited.signal ? `signal ${exited.signal}` : `code ${exited.code}`;
        throw await failure(
          options.logFile,
          `the detached supervisor (pid ${pid}) exited with ${how} before it was up`,
          {
            pid,
            ...exited,
          },
        );
      }
      if (await options.isUp(pid, wait.signal).catch(() => false)) return { pid };
      await sleep(options.pollMs ?? 100, { signal: wait.signal });
    }
  } catch (err) {
    if (!exited) {
      // Interrupted or timed out while it was still coming up: do not leave a half-started daemon.
      killGroup(pid, 'SIGTERM');
    }
    if (err instanceof MarshalError && err.code === 'E_DETACH_FAILED') throw err;
    if (options.signal?.aborted) throw err;
    throw await failure(
      options.logFile,
      `the detached supervisor (pid ${pid}) was not up within its time bound`,
      {
        pid,
      },
    );
  } finally {
    wait.clear();
  }
}

async function failure(
  logFile: string,
  message: string,
  details: Record<string, unknown>,
): Promise<MarshalError> {
  const tail = await readLastLines(logFile, 8).catch(() => []);
  const shown = tail.map((l) => `    ${sanitizeForLog(l)}`).join('\n');
  return new MarshalError(
    SUPERVISOR_ERRORS.E_DETACH_FAILED,
    tail.length > 0 ? `${message}; last log lines:\n${shown}` : message,
    {
      details: { ...details, logFile },
      hint: `see ${logFile}`,
    },
  );
}

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}
