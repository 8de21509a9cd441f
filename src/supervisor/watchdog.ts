/**
 * A watchdog that stops the supervisor's child trees if the supervisor itself dies (SIGKILL, OOM
 * kill, crash): pdeathsig reaches only the direct child, and a dead supervisor's grandchildren
 * would otherwise live on (holding the port) until the next start reaps them, or forever.
 *
 * The watchdog is a small Node process in its own session (so a terminal's signals and a kill of
 * the supervisor's process group do not reach it) whose stdin is a pipe from the supervisor. The
 * supervisor tells it which trees to guard (cookie, cgroup leaf, child pid; see descendants.ts)
 * and which are gone; the kernel closes the pipe when the supervisor exits, however it died, and
 * the watchdog then stops what is still tracked and exits (watchdog-main.ts). Nothing is polled
 * to notice the death, and after a clean stop there is nothing left to do, so it exits at once.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TreeSpec } from './descendants.ts';

const SELF = fileURLToPath(import.meta.url);
/** The watchdog program next to this module (`.ts` under tsx, `.js` in dist/). */
export const WATCHDOG_MAIN: string = SELF.replace(/watchdog\.(ts|js)$/, 'watchdog-main.$1');

/** The handle the supervisor keeps on its watchdog. */
export class Watchdog {
  readonly #proc: ChildProcess;
  readonly pid: number;
  #closed = false;

  private constructor(proc: ChildProcess, pid: number) {
    this.#proc = proc;
    this.pid = pid;
  }

  /** Starts the watchdog; null (after `onWarning`) when it cannot be started. */
  static start({ graceMs, onWarning }: { graceMs: number; onWarning(m: string): void }): Watchdog | null {
    // Under tsx (tests, development) the program is TypeScript and needs the same loader.
    const loader = WATCHDOG_MAIN.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
    let proc: ChildProcess;
    try {
      proc = spawn(
        process.execPath,
        [
          ...loader,
          WATCHDOG_MAIN,
          'marshal-watchdog',
          '--supervisor',
          String(process.pid),
          '--grace-ms',
          String(graceMs),
        ],
        { detached: true, stdio: ['pipe', 'ignore', 'ignore'], cwd: '/', shell: false },
      );
    } catch (err) {
      onWarning(`watchdog not started: ${err instanceof Error ? err.message : String(err)}`);
      return null;
    }
    if (proc.pid === undefined || !proc.stdin) {
      onWarning('watchdog not started');
      return null;
    }
    proc.on('error', (err) => onWarning(`watchdog: ${err.message}`));
    proc.stdin.on('error', () => {
      // The watchdog died (EPIPE): the children still have pdeathsig and the next start's reaping.
    });
    // Neither the process nor its pipe keeps the supervisor's event loop alive.
    proc.unref();
    (proc.stdin as unknown as { unref?: () => void }).unref?.();
    return new Watchdog(proc, proc.pid);
  }

  /** Guards `spec` as generation `gen` (sent again when the child's pid is known). */
  track(gen: number, spec: TreeSpec): void {
    this.#send({ op: 'track', gen, spec });
  }

  /** Generation `gen`'s tree is gone. */
  untrack(gen: number): void {
    this.#send({ op: 'untrack', gen });
  }

  /** Closes the pipe: the watchdog stops whatever is still tracked, then exits. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#proc.stdin?.end();
  }

  #send(msg: unknown): void {
    if (this.#closed || !this.#proc.stdin?.writable) return;
    this.#proc.stdin.write(`${JSON.stringify(msg)}\n`);
  }
}
