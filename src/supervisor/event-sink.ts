/**
 * Where the supervisor's events go: the JSONL log (once `.metadata/` exists) and the caller's
 * `onEvent`. Neither a full disk nor a listener's bug may stop supervision.
 */
import type { SupervisorLog } from './event-log.ts';
import type { SupervisorEventRecord } from './supervisor-types.ts';

/** Sends each event to the log and the listener (see the module comment). */
export class EventSink {
  readonly #onEvent: ((e: SupervisorEventRecord) => void) | undefined;
  #log: SupervisorLog | null = null;

  constructor(onEvent: ((e: SupervisorEventRecord) => void) | undefined) {
    this.#onEvent = onEvent;
  }

  /** Starts writing the JSONL log. */
  open(log: SupervisorLog): void {
    this.#log = log;
  }

  /** Closes the log; later events reach only the listener. */
  async close(): Promise<void> {
    const log = this.#log;
    this.#log = null;
    await log?.close().catch(() => undefined);
  }

  emit(e: SupervisorEventRecord): void {
    try {
      this.#log?.write(e);
    } catch {
      // A full disk must not stop supervision; onEvent still sees the event.
    }
    try {
      this.#onEvent?.(e);
    } catch (err) {
      // A listener's bug must not break supervision; it is logged once per event.
      this.#log?.write({
        type: 'warning',
        at: Date.now(),
        message: `onEvent listener failed: ${String(err)}`,
      });
    }
  }
}
