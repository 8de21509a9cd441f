/**
 * The effect interpreter: holds the machine state, applies events one at a time (a queue, so
 * effects of one transition run in order before the next event), and runs effects against the
 * real world (processes, files, timers). Effects that take long (sync, start, readiness, stop) run
 * in the background and report back with events; they never await `dispatch`.
 */
import { unlink } from 'node:fs/promises';
import { childEnv } from './child-env.ts';
import { type ChildEntry, Children } from './children.ts';
import { comfyGitSyncCommand } from './comfygit-start.ts';
import { type EffectHost, runEffect } from './effect-runner.ts';
import { type EnvironmentSpec, loadEnvironment } from './environment.ts';
import { cleanOutputLine, type SupervisorLog } from './event-log.ts';
import { EventSink } from './event-sink.ts';
import { watchLiveness } from './liveness.ts';
import type { SupervisorEvent, SupervisorState } from './machine-types.ts';
import { loadOrchestratorConfig } from './orchestrator-config.ts';
import { type ClaimResult, PidWriter } from './pid-writer.ts';
import { type MetadataPaths, metadataPaths, readSwitchStatus, type SwitchStatus } from './protocol.ts';
import { childProbe } from './readiness.ts';
import type { Settings } from './settings.ts';
import { TRANSIENT_SWITCH_STATES } from './startup.ts';
import { activeSwitch, isFinal, phaseOf, shownEnvironment, transition } from './state-machine.ts';
import type { SupervisorEventRecord, SupervisorResult, SupervisorStatus } from './supervisor-types.ts';
import { SwitchLock } from './switch-lock.ts';
import type { Workspace } from './workspace.ts';

/** What a {@link Runtime} is built from. */
export interface RuntimeInit {
  workspace: Workspace;
  serverArgs: string[];
  baseEnv: Readonly<Record<string, string | undefined>>;
  settings: Settings;
  state: SupervisorState;
  onEvent: ((e: SupervisorEventRecord) => void) | undefined;
  /** Handles the exit-43 request (take, lock, dispatch); see requests.ts. */
  takeRequest: (rt: Runtime) => Promise<void>;
  /** Bound on ComfyGit's sync (`orchestrator.sync_timeout_s`; default 600 s). */
  syncTimeoutMs?: number;
}

/**
 * One supervisor's live state and effect interpreter (see the module comment). Its state is
 * private: the machine state changes only through `dispatch`, the switch status through
 * `publishSwitchStatus` / `retireSwitchStatus`, and every change notifies the listeners.
 */
export class Runtime implements EffectHost {
  #state: SupervisorState;
  #switchStatus: SwitchStatus | null = null;
  readonly ws: Workspace;
  readonly paths: MetadataPaths;
  readonly settings: Settings;
  readonly lock: SwitchLock;
  readonly children: Children;
  /** `.orchestrator.pid` and identity-file writer. */
  readonly pid: PidWriter;
  readonly #init: RuntimeInit;
  readonly #queue: Array<{ event: SupervisorEvent; resolve: () => void }> = [];
  #pumping = false;
  readonly #timers = new Set<NodeJS.Timeout>();
  /** Running syncs by op id (aborted by cancel_sync and at finish). */
  readonly #syncs = new Map<number, AbortController>();
  readonly #listeners = new Set<(s: SupervisorStatus) => void>();
  #serialTail: Promise<unknown> = Promise.resolve();
  #finished = false;
  readonly lifetime = new AbortController();
  #resolveDone: (r: SupervisorResult) => void = () => {};
  /** Settles when supervision is over (see {@link Runtime.finish}). */
  readonly done: Promise<SupervisorResult>;
  readonly #events: EventSink;
  /** Child generations to start without `comfyui.extra_args` (after a crash with them). */
  readonly #plainLaunches = new Set<number>();
  #syncNoticeGiven = false;
  /** The liveness probe of the running child, if its environment has one. */
  #liveness: { gen: number; ac: AbortController } | null = null;

  constructor(init: RuntimeInit) {
    this.#init = init;
    this.ws = init.workspace;
    this.paths = metadataPaths(init.workspace.root);
    this.settings = init.settings;
    this.#state = init.state;
    this.#events = new EventSink(init.onEvent);
    this.done = new Promise((resolve) => {
      this.#resolveDone = resolve;
    });
    this.pid = new PidWriter(this.paths.orchestratorPid, (m) => this.warn(m));
    this.lock = new SwitchLock(this.paths.switchLock, init.settings.lockTtlMs, (m) => this.warn(m));
    this.children = new Children({
      graceMs: init.settings.graceMs,
      portFreeTimeoutMs: init.settings.portFreeTimeoutMs,
      pdeathsig: init.settings.pdeathsig,
      loadSpec: (env, gen) => this.#launchSpec(env, gen),
      childEnv: (spec) => this.childEnv(spec),
      onOutput: (stream, line, pid) =>
        this.emit({ type: 'child_output', at: Date.now(), stream, line: cleanOutputLine(line), pid }),
      onSpawned: (entry, proc) => this.#onSpawned(entry, proc.pid),
      onExited: (entry, outcome) => this.#onExited(entry, outcome),
      onWarning: (m) => this.warn(m),
    });
  }

  get finished(): boolean {
    return this.#finished;
  }

  /** The machine state (changed only by dispatched events). */
  get state(): SupervisorState {
    return this.#state;
  }

  /** The switch status as last written or read. */
  get switchStatus(): SwitchStatus | null {
    return this.#switchStatus;
  }

  /** Records `status` as the current switch status (it was just written or read). */
  publishSwitchStatus(status: SwitchStatus | null): void {
    this.#switchStatus = status;
  }

  /** Forgets `status` if it is still the current one (its retention ended); notifies then. */
  retireSwitchStatus(status: SwitchStatus): void {
    if (this.#switchStatus !== status) return;
    this.#switchStatus = null;
    this.notify();
  }

  /** Opens the JSONL log (once `.metadata/` exists). */
  openLog(log: SupervisorLog): void {
    this.#events.open(log);
  }

  /** Closes the log (start-up failure or end of supervision). */
  closeLog(): Promise<void> {
    return this.#events.close();
  }

  /** Starts sync `op` with its own abort controller; `run` reports back by dispatching. */
  startSync(op: number, run: (signal: AbortSignal) => Promise<void>): void {
    const ac = new AbortController();
    this.#syncs.set(op, ac);
    void run(ac.signal).finally(() => this.#syncs.delete(op));
  }

  /** Aborts sync `op` if it still runs. */
  cancelSync(op: number): void {
    this.#syncs.get(op)?.abort();
  }

  /** The exit-43 request handler (see requests.ts). */
  takeRequest(): Promise<void> {
    return this.#init.takeRequest(this);
  }

  emit(e: SupervisorEventRecord): void {
    this.#events.emit(e);
  }

  warn(message: string): void {
    this.emit({ type: 'warning', at: Date.now(), message });
  }

  loadSpec(env: string): Promise<EnvironmentSpec> {
    return loadEnvironment(this.ws, env, { serverArgs: this.#init.serverArgs, env: this.#init.baseEnv });
  }

  /** Records whether child `gen` starts without `comfyui.extra_args`. */
  noteLaunch(gen: number, plainArgs: boolean): void {
    if (plainArgs) this.#plainLaunches.add(gen);
  }

  /**
   * The spec child `gen` starts from: with `comfyui.extra_args` read again from
   * orchestrator_config.json at every start (as ComfyGit does, so an edit applies at the next
   * restart), unless this start is the retry without them.
   */
  async #launchSpec(env: string, gen: number): Promise<EnvironmentSpec> {
    let extraArgs: string[] = [];
    if (this.#plainLaunches.delete(gen)) {
      this.warn(`starting ${env} without comfyui.extra_args (it crashed with them)`);
    } else {
      try {
        const loaded = await loadOrchestratorConfig(this.paths.dir, { create: false });
        if (loaded.warning) this.warn(loaded.warning);
        extraArgs = loaded.config.extraArgs;
      } catch (err) {
        this.warn(`${err instanceof Error ? err.message : String(err)}; starting without extra args`);
      }
    }
    return loadEnvironment(this.ws, env, {
      serverArgs: this.#init.serverArgs,
      env: this.#init.baseEnv,
      extraArgs,
    });
  }

  /** ComfyGit's sync command for `env` (see comfygit-start.ts); says once when there is none. */
  async comfyGitSync(env: string): Promise<{ argv: string[]; timeoutMs: number } | undefined> {
    const found = await comfyGitSyncCommand(env, this.#init.baseEnv);
    if (found.argv) return { argv: found.argv, timeoutMs: this.#init.syncTimeoutMs ?? 600_000 };
    if (!this.#syncNoticeGiven) {
      this.#syncNoticeGiven = true;
      this.warn(`cannot sync: ${found.reason}`);
    }
    return undefined;
  }

  /** The child's environment (see child-env.ts). */
  childEnv(spec: EnvironmentSpec): Record<string, string> {
    return childEnv(this.#init.baseEnv, spec, this.ws.root);
  }

  /** Runs `op` after every earlier serial op (protocol-file takes and switch acceptance). */
  serial<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#serialTail.then(op, op);
    this.#serialTail = run.catch(() => undefined);
    return run;
  }

  /** Queues `event`; resolves once it and its effects have been applied. Never await it from an effect. */
  dispatch(event: SupervisorEvent): Promise<void> {
    return new Promise((resolve) => {
      this.#queue.push({ event, resolve });
      void this.#pump();
    });
  }

  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (let item = this.#queue.shift(); item; item = this.#queue.shift()) {
        try {
          await this.#apply(item.event);
        } catch (err) {
          this.warn(`internal: ${item.event.type}: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          item.resolve();
        }
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #apply(event: SupervisorEvent): Promise<void> {
    const prev = this.#state;
    const { state, effects } = transition(prev, event);
    if (state === prev && effects.length === 0) return;
    this.#state = state;
    if (state.kind !== prev.kind || state.ctx.env !== prev.ctx.env) {
      this.emit({
        type: 'state',
        at: Date.now(),
        from: prev.kind,
        to: state.kind,
        phase: phaseOf(state),
        environment: this.environment(),
        cause:
          event.type === 'child_exited'
            ? `child_exited(${event.code ?? event.signal ?? event.startError})`
            : event.type,
      });
    }
    this.#followLiveness(prev, state);
    for (const effect of effects) {
      try {
        await runEffect(this, effect);
      } catch (err) {
        this.warn(`effect ${effect.type} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.notify();
  }

  /** Starts the liveness probe when a child enters `running`, stops it when it leaves. */
  #followLiveness(prev: SupervisorState, next: SupervisorState): void {
    const gen = next.kind === 'running' ? next.gen : null;
    if (this.#liveness && this.#liveness.gen !== gen) {
      this.#liveness.ac.abort();
      this.#liveness = null;
    }
    if (gen === null || (prev.kind === 'running' && prev.gen === gen)) return;
    const entry = this.children.get(gen);
    const live = entry?.spec?.liveness;
    if (!entry?.spec || !entry.proc || !live) return;
    const ac = new AbortController();
    this.lifetime.signal.addEventListener('abort', () => ac.abort(), { once: true });
    this.#liveness = { gen, ac };
    const spec = entry.spec;
    const probe = childProbe(
      { host: spec.host, port: spec.port, health: live.check },
      entry.proc.pid,
      live.timeoutMs,
    );
    void watchLiveness(probe, {
      periodMs: live.periodMs,
      failureThreshold: live.failureThreshold,
      signal: ac.signal,
    })
      .then((failed) => {
        if (!failed) return;
        this.warn(
          `liveness probe of ${spec.name} (pid ${entry.proc?.pid}) failed ${failed.failures} times in a row (${failed.message}); restarting it`,
        );
        void this.dispatch({ type: 'liveness_failed', gen, message: failed.message });
      })
      .catch((err: unknown) => this.warn(`liveness probe: ${String(err)}`));
  }

  /** Dispatches `event` after `ms` (cleared when supervision finishes). */
  schedule(ms: number, event: SupervisorEvent): void {
    this.later(ms, () => void this.dispatch(event));
  }

  /** Runs `fn` after `ms` unless supervision has finished by then. */
  later(ms: number, fn: () => void): void {
    if (this.#finished) return;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #onSpawned(entry: ChildEntry, pid: number): void {
    this.emit({
      type: 'child_started',
      at: Date.now(),
      environment: entry.env,
      pid,
      argv: entry.spec?.start ?? [],
    });
    this.writePid();
    void this.dispatch({ type: 'child_spawned', gen: entry.gen, pid });
  }

  #onExited(entry: ChildEntry, o: { code: number | null; signal: string | null; startError?: string }): void {
    this.emit({
      type: 'child_exited',
      at: Date.now(),
      environment: entry.env,
      pid: entry.proc?.pid ?? null,
      code: o.code,
      signal: o.signal,
      ...(o.startError === undefined ? {} : { error: o.startError }),
    });
    this.writePid();
    const usedExtraArgs = (entry.spec?.extraArgs.length ?? 0) > 0;
    void this.dispatch({
      type: 'child_exited',
      gen: entry.gen,
      ...o,
      ...(usedExtraArgs ? { usedExtraArgs } : {}),
    });
  }

  /** Claims the workspace (identity file by exclusive create, then `.orchestrator.pid`); see pid-writer.ts. */
  claimPid(): Promise<ClaimResult> {
    return this.pid.claim(this.#pidRecord());
  }

  /** Rewrites the identity file with the current child's identity. */
  writePid(): void {
    if (this.#finished) return;
    this.pid.write(this.#pidRecord());
  }

  #pidRecord(): Record<string, unknown> {
    const child = this.children.current();
    return {
      kind: 'marshal-supervisor',
      workspace: this.ws.root,
      environment: this.environment(),
      childPid: child?.proc?.pid ?? null,
      childPgid: child?.proc?.pid ?? null,
      childStartTime: child?.startTime ?? null,
    };
  }

  /** The environment shown in status (the target once its child runs). */
  environment(): string {
    return shownEnvironment(this.#state);
  }

  status(): SupervisorStatus {
    return {
      running: !this.#finished,
      pid: process.pid,
      environment: this.environment(),
      childPid: this.children.current()?.proc?.pid ?? null,
      state: phaseOf(this.state),
      restarts: this.state.ctx.restarts,
      switchStatus: this.switchStatus,
    };
  }

  onChange(listener: (s: SupervisorStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  notify(): void {
    const snapshot = this.status();
    for (const l of [...this.#listeners]) {
      try {
        l(snapshot);
      } catch {
        // A listener's bug must not break supervision.
      }
    }
  }

  /** Start-up failed before supervision began: nothing runs, status says stopped. */
  abandon(): void {
    this.#finished = true;
    this.lifetime.abort();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#state = { kind: 'stopped', ctx: this.#state.ctx };
    this.notify();
  }

  /**
   * `complete`, `aborted` and `recovering` are over once this supervisor exits: removed (if the
   * file is still the one we wrote), so no reader mistakes them for a live switch later.
   */
  async #removeTransientStatus(): Promise<void> {
    const mine = this.#switchStatus;
    if (!mine || !TRANSIENT_SWITCH_STATES.has(mine.state)) return;
    const current = await readSwitchStatus(this.ws);
    if (current?.state === mine.state && current.updated_at === mine.updated_at) {
      await unlink(this.paths.switchStatus).catch(() => undefined);
      this.#switchStatus = null;
    }
  }

  /** Ends supervision: timers, syncs, readiness, children (groups included), lock, PID file, log; resolves done. */
  async finish(exitCode: 0 | 4, reason: string): Promise<void> {
    if (this.#finished) return;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const ac of this.#syncs.values()) ac.abort();
    this.lifetime.abort();
    await this.children.stopAll();
    if (this.lock.held) {
      await this.lock.release();
      if (activeSwitch(this.state)) this.warn('switch lock released at exit');
    }
    this.#finished = true;
    await this.#removeTransientStatus();
    await this.pid.close();
    const state = isFinal(this.state) && this.state.kind === 'crash_loop' ? 'crash_loop' : 'stopped';
    this.emit({ type: 'finished', at: Date.now(), exitCode, state, reason });
    this.notify();
    await this.closeLog();
    this.#resolveDone({ exitCode, state, reason });
  }
}
