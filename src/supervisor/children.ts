/**
 * The supervisor's child processes, one entry per generation (`gen`, handed out by the state
 * machine). Each entry's lifecycle is the union in child-lifecycle.ts, advanced only by its pure
 * `stepChild`; this file runs the steps' actions. Guarantees one outcome per start: `onExited` is
 * called exactly once per `start`, with the exit status, or with `startError` when the start
 * failed or was cancelled.
 *
 * Start = handoff (every earlier generation's process group gone, the port free, both bounded),
 * then spawn in a new process group (with pdeathsig). Stop = SIGTERM to the group, grace, SIGKILL,
 * and wait for the whole group, grandchildren included.
 */
import { assertNever } from '../core/errors.ts';
import { type ManagedProcess, spawnProcess } from '../core/process.ts';
import { isProcessGroupAlive } from '../core/process-group.ts';
import { processStartTime } from '../core/process-identity.ts';
import { type ChildEvent, type ChildOutcome, type ChildPhase, stepChild } from './child-lifecycle.ts';
import type { EnvironmentSpec } from './environment.ts';
import { waitPortFree } from './handoff.ts';

/** One child generation: its phase (see child-lifecycle.ts) and the resources behind it. */
export interface ChildEntry {
  readonly gen: number;
  readonly env: string;
  /** Changed only by {@link stepChild}. */
  readonly phase: ChildPhase;
  readonly spec: EnvironmentSpec | null;
  readonly proc: ManagedProcess | null;
  /** /proc start time of the child (PID-reuse guard in the PID file). */
  readonly startTime: number | null;
  /** Settles once the child is spawned (its process) or the start failed (null). */
  readonly spawned: Promise<ManagedProcess | null>;
  /** Settles when the outcome was reported. */
  readonly finished: Promise<void>;
}

interface Entry {
  gen: number;
  env: string;
  phase: ChildPhase;
  spec: EnvironmentSpec | null;
  proc: ManagedProcess | null;
  startTime: number | null;
  cancel: AbortController;
  spawned: Promise<ManagedProcess | null>;
  finished: Promise<void>;
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
  onExited(entry: ChildEntry, outcome: ChildOutcome): void;
  onWarning(message: string): void;
}

/** The set of child generations (see the module comment). */
export class Children {
  readonly #entries = new Map<number, Entry>();
  readonly #deps: ChildrenDeps;

  constructor(deps: ChildrenDeps) {
    this.#deps = deps;
  }

  get(gen: number): ChildEntry | undefined {
    return this.#entries.get(gen);
  }

  /** The live child (spawned, not exited), newest first. */
  current(): ChildEntry | null {
    let best: Entry | null = null;
    for (const e of this.#entries.values()) {
      const live = e.phase.kind === 'running' || e.phase.kind === 'stopping';
      if (live && (!best || e.gen > best.gen)) best = e;
    }
    return best;
  }

  start(gen: number, env: string): ChildEntry {
    let resolveSpawned!: (p: ManagedProcess | null) => void;
    const spawned = new Promise<ManagedProcess | null>((r) => {
      resolveSpawned = r;
    });
    const entry: Entry = {
      gen,
      env,
      phase: { kind: 'starting' },
      spec: null,
      proc: null,
      startTime: null,
      cancel: new AbortController(),
      spawned,
      finished: Promise.resolve(),
    };
    this.#entries.set(gen, entry);
    entry.finished = this.#run(entry, resolveSpawned);
    return entry;
  }

  /** Advances `entry` by one pure step and runs the step's actions. */
  #step(entry: Entry, event: ChildEvent): void {
    const { phase, actions } = stepChild(entry.phase, event);
    entry.phase = phase;
    for (const action of actions) {
      switch (action.type) {
        case 'abort_start':
          entry.cancel.abort();
          break;
        case 'stop_group':
          this.#stopGroup(entry);
          break;
        case 'report_spawned':
          if (entry.proc) this.#deps.onSpawned(entry, entry.proc);
          break;
        case 'report_exited':
          this.#deps.onExited(entry, action.outcome);
          break;
        default:
          assertNever(action, 'child action');
      }
    }
  }

  async #run(entry: Entry, resolveSpawned: (p: ManagedProcess | null) => void): Promise<void> {
    let proc: ManagedProcess;
    try {
      const spec = await this.#deps.loadSpec(entry.env);
      entry.spec = spec;
      await this.#reapOthers(entry.gen);
      entry.cancel.signal.throwIfAborted();
      await waitPortFree(spec, { timeoutMs: this.#deps.portFreeTimeoutMs, signal: entry.cancel.signal });
      entry.cancel.signal.throwIfAborted();
      proc = spawnProcess(spec.start, {
        cwd: spec.cwd,
        env: this.#deps.childEnv(spec),
        pdeathsig: this.#deps.pdeathsig,
        onStdoutLine: (line) => this.#deps.onOutput('stdout', line, proc.pid),
        onStderrLine: (line) => this.#deps.onOutput('stderr', line, proc.pid),
      });
    } catch (err) {
      resolveSpawned(null);
      this.#step(entry, { type: 'start_failed', message: err instanceof Error ? err.message : String(err) });
      return;
    }
    entry.proc = proc;
    entry.startTime = processStartTime(proc.pid) ?? null;
    resolveSpawned(proc);
    this.#step(entry, { type: 'spawned', pid: proc.pid });
    const info = await proc.exited;
    this.#step(entry, { type: 'exited', code: info.code, signal: info.signal });
  }

  #stopGroup(entry: Entry): void {
    entry.proc?.stop({ graceMs: this.#deps.graceMs }).catch((err: unknown) => {
      this.#deps.onWarning(
        `stopping child ${entry.proc?.pid}: ${err instanceof Error ? err.message : String(err)}`,
      );
    });
  }

  /** Stops generation `gen`: cancels a start in progress, or stops the process group. Idempotent. */
  stop(gen: number): void {
    const entry = this.#entries.get(gen);
    if (entry) this.#step(entry, { type: 'stop' });
  }

  /** Makes sure every generation but `keep` is gone, group members included (bounded by the stop). */
  async #reapOthers(keep: number): Promise<void> {
    for (const entry of [...this.#entries.values()]) {
      if (entry.gen === keep) continue;
      await this.#reap(entry);
    }
  }

  async #reap(entry: Entry): Promise<void> {
    this.#step(entry, { type: 'stop' });
    const proc = entry.proc;
    if (proc && (entry.phase.kind !== 'exited' || isProcessGroupAlive(proc.pid))) {
      // Waits for the whole group; after the leader exits, stop() still signals the rest of it.
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
