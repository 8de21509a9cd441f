/**
 * The supervisor's child processes, one entry per generation (`gen`, handed out by the state
 * machine). Each entry's lifecycle is the union in child-lifecycle.ts, advanced only by its pure
 * `stepChild`; this file runs the steps' actions. Guarantees one outcome per start: `onExited` is
 * called exactly once per `start`, with the exit status, or with `startError` when the start
 * failed or was cancelled.
 *
 * Start = handoff (every earlier generation's tree gone, the port free, both bounded), then spawn
 * in a new process group (with pdeathsig), inside a cgroup v2 leaf where one can be made, with a
 * per-generation cookie in its environment (descendants.ts). Stop = SIGTERM to the whole tree
 * (group, leaf, every descendant whatever its session), grace, SIGKILL, and wait until none is
 * left. A child that exits by itself has what it left behind stopped at once. A watchdog process
 * (watchdog.ts) guards every tree in case the supervisor itself dies.
 */
import { assertNever } from '../core/errors.ts';
import { type ManagedProcess, spawnProcess } from '../core/process.ts';
import { processStartTime } from '../core/process-identity.ts';
import { type ChildEvent, type ChildOutcome, type ChildPhase, stepChild } from './child-lifecycle.ts';
import { ChildTree, type TreeMode } from './descendants.ts';
import type { EnvironmentSpec } from './environment.ts';
import { waitPortFree } from './handoff.ts';
import { Watchdog } from './watchdog.ts';

/**
 * The supervisor environment variable that turns cgroup tracking off (`MARSHAL_TREE_TRACKING=proc`:
 * /proc walks only); read from the environment the child would get, which is built from the
 * supervisor's own.
 */
export const TREE_TRACKING_VAR = 'MARSHAL_TREE_TRACKING';
/** `MARSHAL_WATCHDOG=0` runs without the watchdog process (then only pdeathsig and start-up reaping). */
export const WATCHDOG_VAR = 'MARSHAL_WATCHDOG';

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
  /** How its descendants are tracked (null before the start got that far). */
  readonly treeMode: TreeMode | null;
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
  tree: ChildTree | null;
  treeMode: TreeMode | null;
  /** The running stop of the whole tree (one at a time). */
  stopping: Promise<unknown> | null;
  cancel: AbortController;
  spawned: Promise<ManagedProcess | null>;
  finished: Promise<void>;
}

/** What {@link Children} needs from the supervisor. */
export interface ChildrenDeps {
  graceMs: number;
  portFreeTimeoutMs: number;
  pdeathsig: boolean;
  /** The spec child `gen` of `env` is started from. */
  loadSpec(env: string, gen: number): Promise<EnvironmentSpec>;
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
  #watchdog: Watchdog | null | undefined;
  #warnedFallback = false;

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
      tree: null,
      treeMode: null,
      stopping: null,
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
      const spec = await this.#deps.loadSpec(entry.env, entry.gen);
      entry.spec = spec;
      await this.#reapOthers(entry.gen);
      entry.cancel.signal.throwIfAborted();
      await waitPortFree(spec, { timeoutMs: this.#deps.portFreeTimeoutMs, signal: entry.cancel.signal });
      entry.cancel.signal.throwIfAborted();
      const env = this.#deps.childEnv(spec);
      const watchdog = this.#ensureWatchdog(env);
      const tree = ChildTree.create(String(entry.gen), { cgroup: env[TREE_TRACKING_VAR] !== 'proc' });
      entry.tree = tree;
      // Guarded before it exists: a supervisor killed right after the spawn leaves nothing behind.
      watchdog?.track(entry.gen, tree.spec);
      proc = spawnProcess(spec.start, {
        cwd: spec.cwd,
        env: { ...env, ...tree.env() },
        pdeathsig: this.#deps.pdeathsig,
        around: tree.around,
        onStdoutLine: (line) => this.#deps.onOutput('stdout', line, proc.pid),
        onStderrLine: (line) => this.#deps.onOutput('stderr', line, proc.pid),
      });
      entry.treeMode = tree.mode;
      if (tree.fallbackReason && !this.#warnedFallback && env[TREE_TRACKING_VAR] !== 'proc') {
        this.#warnedFallback = true;
        this.#deps.onWarning(
          `child trees are tracked through /proc, not a cgroup (${tree.fallbackReason}); a descendant that leaves its session and clears its environment could escape`,
        );
      }
    } catch (err) {
      this.#forgetTree(entry);
      resolveSpawned(null);
      this.#step(entry, { type: 'start_failed', message: err instanceof Error ? err.message : String(err) });
      return;
    }
    entry.proc = proc;
    entry.startTime = processStartTime(proc.pid) ?? null;
    entry.tree?.attach(proc.pid, entry.startTime);
    if (entry.tree) this.#watchdog?.track(entry.gen, entry.tree.spec);
    resolveSpawned(proc);
    this.#step(entry, { type: 'spawned', pid: proc.pid });
    const info = await proc.exited;
    // What it left behind (a daemonized helper in its own session holding the port) goes now.
    if (entry.tree?.hasMembers()) void this.#stopTree(entry);
    this.#step(entry, { type: 'exited', code: info.code, signal: info.signal });
  }

  #ensureWatchdog(env: Record<string, string>): Watchdog | null {
    if (this.#watchdog === undefined) {
      this.#watchdog =
        env[WATCHDOG_VAR] === '0'
          ? null
          : Watchdog.start({ graceMs: this.#deps.graceMs, onWarning: (m) => this.#deps.onWarning(m) });
    }
    return this.#watchdog;
  }

  /** Stops entry's whole tree (one stop at a time); resolves when none of it is left. */
  #stopTree(entry: Entry): Promise<unknown> {
    const { proc, tree } = entry;
    if (!proc || !tree) return Promise.resolve();
    entry.stopping ??= tree
      .terminate({
        graceMs: this.#deps.graceMs,
        leaderExited: proc.exited,
        label: `child tree of ${proc.pid}`,
      })
      .catch((err: unknown) => {
        this.#deps.onWarning(
          `stopping child ${proc.pid}: ${err instanceof Error ? err.message : String(err)}`,
        );
      })
      .finally(() => {
        entry.stopping = null;
      });
    return entry.stopping;
  }

  /** The tree is gone: remove its leaf and tell the watchdog. */
  #forgetTree(entry: Entry): void {
    if (!entry.tree) return;
    entry.tree.dispose();
    this.#watchdog?.untrack(entry.gen);
  }

  #stopGroup(entry: Entry): void {
    void this.#stopTree(entry);
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
    const tree = entry.tree;
    if (entry.proc && tree && (entry.phase.kind !== 'exited' || entry.stopping || tree.hasMembers())) {
      // Waits for the whole tree; after the leader exits, it still stops the rest of it.
      await this.#stopTree(entry);
      // A member that appeared as that stop ended (not possible in a cgroup) gets one more.
      if (tree.hasMembers()) await this.#stopTree(entry);
    }
    await entry.finished;
    if (tree && !tree.hasMembers()) this.#forgetTree(entry);
    this.#entries.delete(entry.gen);
  }

  /** Stops every child tree, waits for all outcomes, then lets the watchdog go. */
  async stopAll(): Promise<void> {
    await Promise.all([...this.#entries.values()].map((e) => this.#reap(e)));
    this.#watchdog?.close();
  }
}
