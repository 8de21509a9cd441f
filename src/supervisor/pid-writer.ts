/**
 * The supervisor's `.orchestrator.pid`: written at start and whenever the child changes, with the
 * child's identity (pid, process group, /proc start time) as extra fields, so a later supervisor
 * can reap the group if this one dies; removed at exit, and only if this supervisor wrote it.
 * Writes are serialised (the last one wins) and atomic (core pid-file).
 */
import { removePidFile, writePidFile } from '../core/pid-file.ts';

/** Serialised writer of one PID file. */
export class PidWriter {
  readonly #path: string;
  readonly #onError: (message: string) => void;
  #chain: Promise<unknown> = Promise.resolve();
  #written = false;
  #closed = false;

  constructor(path: string, onError: (message: string) => void) {
    this.#path = path;
    this.#onError = onError;
  }

  /** Queues a write with these extra fields (ignored once closed). */
  write(extra: Record<string, unknown>): void {
    this.#chain = this.#chain
      .then(async () => {
        if (this.#closed) return;
        await writePidFile(this.#path, extra);
        this.#written = true;
      })
      .catch((err: unknown) => this.#onError(`cannot write ${this.#path}: ${String(err)}`));
  }

  /** Resolves once the writes queued so far are done. */
  async flush(): Promise<void> {
    await this.#chain;
  }

  /** No more writes; removes the file if this writer wrote it (and it is still this process's). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#chain;
    if (this.#written) await removePidFile(this.#path).catch(() => false);
  }
}
