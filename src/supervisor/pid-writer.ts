/**
 * The supervisor's PID files, two of them:
 *
 * - `.orchestrator.pid`: a plain decimal pid and a newline, because every ComfyGit reader does
 *   `int(path.read_text())` (the panel's `orchestrator_active`, `should_spawn_orchestrator_for_switch()`,
 *   `detect_manual_start_during_orchestrator()`, `cg orch status|restart|kill|clean`). Some of them
 *   delete it when it does not parse, so it is re-asserted while marshal runs ({@link PidWriter.reassert}).
 * - `.orchestrator.pid.marshal.json` (the *identity file*): marshal's own record (pid, /proc start
 *   time, host, and the child's pid, group and start time), so a later supervisor can tell a
 *   recycled pid from a live supervisor and reap the child group of a dead one. It is also the
 *   single-instance lock: claimed by exclusive create at start, so two supervisors racing for one
 *   workspace cannot both win, whatever a client does to `.orchestrator.pid`.
 *
 * Writes are serialised (the last one wins) and atomic; both files are removed at exit, and only
 * if they are still this process's.
 */
import { unlink, writeFile } from 'node:fs/promises';
import { writeFileAtomic } from '../core/atomic-file.ts';
import { readCappedFile } from '../core/files.ts';
import { readPidFile, removePidFile, writePidFile } from '../core/pid-file.ts';
import { currentIdentity } from '../core/process-identity.ts';

/** Name of marshal's identity file next to `.orchestrator.pid`. */
export const IDENTITY_FILE_SUFFIX = '.marshal.json';

/** Outcome of {@link PidWriter.claim}. */
export type ClaimResult = { ok: true } | { ok: false; holder: number | null };

/** Serialised writer of `.orchestrator.pid` and its identity file. */
export class PidWriter {
  readonly #pidPath: string;
  readonly #identityPath: string;
  readonly #onError: (message: string) => void;
  #chain: Promise<unknown> = Promise.resolve();
  #extra: Record<string, unknown> = {};
  #claimed = false;
  #closed = false;

  constructor(pidPath: string, onError: (message: string) => void) {
    this.#pidPath = pidPath;
    this.#identityPath = `${pidPath}${IDENTITY_FILE_SUFFIX}`;
    this.#onError = onError;
  }

  /**
   * Claims the workspace: creates the identity file exclusively (the single-instance lock), then
   * writes the plain PID file. `{ok: false}` when another process created the identity file first.
   */
  async claim(extra: Record<string, unknown>): Promise<ClaimResult> {
    this.#extra = extra;
    const record = { ...currentIdentity(), startedAt: new Date().toISOString(), ...extra };
    try {
      await writeFile(this.#identityPath, `${JSON.stringify(record, null, 2)}\n`, { flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const state = await readPidFile(this.#identityPath).catch(() => undefined);
      return {
        ok: false,
        holder: state && state.status !== 'missing' && 'record' in state ? state.record.pid : null,
      };
    }
    this.#claimed = true;
    await writeFileAtomic(this.#pidPath, `${process.pid}\n`);
    return { ok: true };
  }

  /** Queues a rewrite of the identity file with these extra fields (ignored unless claimed). */
  write(extra: Record<string, unknown>): void {
    this.#extra = extra;
    this.#chain = this.#chain
      .then(async () => {
        if (this.#closed || !this.#claimed) return;
        await writePidFile(this.#identityPath, this.#extra);
      })
      .catch((err: unknown) => this.#onError(`cannot write ${this.#identityPath}: ${String(err)}`));
  }

  /**
   * Puts back what a client removed or replaced while we run: the plain PID file (ComfyGit's
   * `cg orch clean` and the panel delete it when they misjudge it) and the identity file.
   * Returns the names of the files it restored.
   */
  reassert(): Promise<string[]> {
    const run = this.#chain.then(async () => {
      if (this.#closed || !this.#claimed) return [];
      const restored: string[] = [];
      const text = await readSmall(this.#pidPath);
      if (text?.trim() !== String(process.pid)) {
        await writeFileAtomic(this.#pidPath, `${process.pid}\n`);
        restored.push(this.#pidPath);
      }
      const identity = await readPidFile(this.#identityPath).catch(() => undefined);
      if (identity?.status !== 'alive' || identity.record.pid !== process.pid) {
        await writePidFile(this.#identityPath, this.#extra);
        restored.push(this.#identityPath);
      }
      return restored;
    });
    this.#chain = run.catch((err: unknown) => this.#onError(`cannot restore PID files: ${String(err)}`));
    return run.catch(() => []);
  }

  /** Resolves once the writes queued so far are done. */
  async flush(): Promise<void> {
    await this.#chain;
  }

  /** No more writes; removes both files if this writer claimed them (and they are still ours). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#chain;
    if (!this.#claimed) return;
    const text = await readSmall(this.#pidPath);
    if (text?.trim() === String(process.pid)) await unlink(this.#pidPath).catch(() => undefined);
    await removePidFile(this.#identityPath).catch(() => false);
  }
}

/** A small regular file's text (capped, no symlink, non-blocking: a planted FIFO never wedges us). */
async function readSmall(path: string): Promise<string | undefined> {
  const read = await readCappedFile(path, { maxBytes: 4096, noFollow: true });
  return read.kind === 'ok' ? read.text : undefined;
}

/** The pid in a plain `.orchestrator.pid`, or undefined when missing or not a plain pid. */
export async function readPlainPid(pidPath: string): Promise<number | undefined> {
  const text = ((await readSmall(pidPath)) ?? '').trim();
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** The identity file that belongs to a `.orchestrator.pid` path. */
export function identityFileOf(pidPath: string): string {
  return `${pidPath}${IDENTITY_FILE_SUFFIX}`;
}
