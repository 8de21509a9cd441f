/**
 * Watches `.metadata/` for `.cmd` and `.switch_request.json`: polls every `intervalMs` (the
 * reliable part) and uses fs.watch only as a hint to poll sooner. Bounded by an AbortSignal;
 * errors are reported and polling goes on.
 */
import { type FSWatcher, watch } from 'node:fs';
import { sleep } from '../core/async.ts';
import { deadline } from '../core/deadline.ts';
import { isAbortError } from '../core/errors.ts';

/** Options of {@link watchProtocolFiles}. */
export interface WatcherOptions {
  dir: string;
  names: readonly string[];
  intervalMs: number;
  signal: AbortSignal;
  tick(): Promise<void>;
  onError(err: unknown): void;
}

/** Runs until `signal` aborts; resolves then. */
export async function watchProtocolFiles(o: WatcherOptions): Promise<void> {
  let wake: AbortController | null = null;
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(o.dir, { persistent: false }, (_event, name) => {
      if (name && o.names.includes(String(name))) wake?.abort();
    });
    watcher.on('error', () => watcher?.close());
  } catch {
    // fs.watch is only a hint (unsupported on some filesystems); polling does the job.
  }
  try {
    while (!o.signal.aborted) {
      try {
        await o.tick();
      } catch (err) {
        o.onError(err);
      }
      wake = new AbortController();
      // Plain listeners, no composite signal (see core/deadline.ts); cleared after each nap.
      const nap = deadline(undefined, [o.signal, wake.signal], 'protocol poll');
      try {
        await sleep(o.intervalMs, { signal: nap.signal });
      } catch (err) {
        if (!isAbortError(err)) throw err;
      } finally {
        nap.clear();
      }
    }
  } finally {
    watcher?.close();
  }
}
