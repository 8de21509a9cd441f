/**
 * The supervisor's child processes, one entry per generation (`gen`, handed out by the state
 * machine). Guarantees one outcome per start: `onExited` is called exactly once per `start`, with
 * the exit status, or with `startError` when the start failed or was cancelled.
 *
 * Start = handoff (every earlier generation's process group gone, the port free, both bounded),
 * then spawn in a new process group (with pdeathsig). Stop = SIGTERM to the group, grace, SIGKILL,
 * and wait for the whole group, grandchildren included.
 */
import { type ManagedProcess, spawnProcess } from '../core/process.ts';
import { isProcessGroupAlive } from '../core/process-group.ts';
import { processStartTime } from '../core/process-identity.ts';
import type { EnvironmentSpec } from './environment.ts';
import { waitPortFree } from './handoff.ts';

/** One child generation. */
export interface ChildEntry {
  gen: number;
  env: string;
  spec: EnvironmentSpec | null;
  proc: ManagedProcess | null;
  /** /proc start time of the child (PID-reuse guard in the PID file). */
  startTime: number | null;
  cancel: AbortController;
  /** Settles once the child is spawned (its process) or the start failed (null). */
  spawned: Promise<ManagedProcess | null>;
  /** Settles when the outcome was reported. */
  finished: Promise<void>;
  exited: boolean;
}

/** What {@link Children} needs from the supervisor. */
export interface ChildrenDeps {
  graceMs: number;
  portFreeTimeoutMs: number;
  pdeathsig: boolean;
  loadSpec(env: string): Promise<EnvironmentSpec>;
  childEnv(spec: EnvironmentSpec): Record<string, string>;
  onOutput(stream: 'stdout' | 'stderr', line: string, pid: number): void;
  onSpawned(entry: ChildEntry, proc: ManagedProcess): void;
  onExited(
    entry: ChildEntry,
    outcome: { code: number | null; signal: string | null; startError?: string },
  ): void;
  onWarning(message: string): void;
}

/** The set of child generations (see the module comment). */
export class Children {
  readonly #entries = new Map<number, ChildEntry>();
  readonly #deps: ChildrenDeps;

  constructor(deps: ChildrenDeps) {
    this.#deps = deps;
  }

  get(gen: number): ChildEntry | undefined {
    return this.#entries.get(gen);
  }

  /** The live child (spawned, not exited), newest first. */
  current(): ChildEntry | null {
    let best: ChildEntry | null = null;
    for (const e of this.#entries.values()) if (e.proc && !e.exited && (!best || e.gen > best.gen)) best = e;
    return best;
  }

  start(gen: number, env: string): ChildEntry {
    const cancel = new AbortController();
    let resolveSpawned!: (p: ManagedProcess | null) => void;
    const spawned = new Promise<ManagedProcess | null>((r) => {
      resolveSpawned = r;
    });
    const entry: ChildEntry = {
      gen,
      env,
      spec: null,
      proc: null,
      startTime: null,
      cancel,
      spawned,
      finished: Promise.resolve(),
      exited: false,
    };
    this.#entries.set(gen, entry);
    entry.finished = this.#run(entry, resolveSpawned);
    return entry;
  }

  async #run(entry: ChildEntry, resolveSpawned: (p: ManagedProcess | null) => void): Promise<void> {
    let outcome: { code: number | null; signal: string | null; startError?: string };
    try {
      const spec = await this.#deps.loadSpec(entry.env);
      entry.spec = spec;
      await this.#reapOthers(entry.gen);
      entry.cancel.signal.throwIfAborted();
      await waitPortFree(spec, { timeoutMs: this.#deps.portFreeTimeoutMs, signal: entry.cancel.signal });
      entry.cancel.signal.throwIfAborted();
      const proc = spawnProcess(spec.start, {
        cwd: spec.cwd,
        env: this.#deps.childEnv(spec),
        pdeathsig: this.#deps.pdeathsig,
        onStdoutLine: (line) => this.#deps.onOutput('stdout', line, proc.pid),
        onStderrLine: (line) => this.#deps.onOutput('stderr', line, proc.pid),
      });
      entry.proc = proc;
      entry.startTime = processStartTime(proc.pid) ?? null;
      resolveSpawned(proc);
      this.#deps.onSpawned(entry, proc);
      const info = await proc.exited;
      outcome = { code: info.code, signal: info.signal };
    } catch (err) {
      resolveSpawned(null);
      const message = entry.cancel.signal.aborted
        ? 'start cancelled'
        : err instanceof Error
          ? err.message
          : String(err);
      outcome = { code: null, signal: null, startError: message };
    }
    entry.exited = true;
    this.#deps.onExited(entry, outcome);
  }

  /** Stops generation `gen`: cancels a start in progress, or stops the process group. Idempotent. */
  stop(gen: number): void {
    const entry = this.#entries.get(gen);
    if (!entry) return;
    if (!entry.proc) {
      entry.cancel.abort();
      return;
    }
    entry.proc.stop({ graceMs: this.#deps.graceMs }).catch((err: unknown) => {
      this.#deps.onWarning(
        `stopping child ${entry.proc?.pid}: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
  }

  /** Makes sure every generation but `keep` is gone, group members included (bounded by the stop). */
  async #reapOthers(keep: number): Promise<void> {
    for (const entry of [...this.#entries.values()]) {
      if (entry.gen === keep) continue;
      await this.#reap(entry);
    }
  }

  async #reap(entry: ChildEntry): Promise<void> {
    entry.cancel.abort();
    const proc = entry.proc;
    if (proc && (!entry.exited || isProcessGroupAlive(proc.pid))) {
      // After the leader exits, stop() still signals and waits for the rest of its group.
      await proc.stop({ graceMs: this.#deps.graceMs }).catch((err: unknown) => {
        this.#deps.onWarning(
          `reaping group ${proc.pid}: ${err instanceof Error ? err.message : String(err)}`,
        );
      });
    }
    await entry.finished;
    this.#entries.delete(entry.gen);
  }

  /** Stops every child and group and waits for all outcomes. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => this.#reap(e)));
  }
}
