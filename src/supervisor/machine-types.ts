/**
 * Types of the supervisor's pure state machine: states, events and effects.
 * See state-machine.ts for the transition diagram.
 */
import type { SwitchState } from './protocol.ts';

/** Public phase (what `status` reports). */
export type Phase =
  | 'starting'
  | 'running'
  | 'restarting'
  | 'switching'
  | 'rolling_back'
  | 'crash_loop'
  | 'stopped';

/** Limits the machine needs (times are durations, never clock readings). */
export interface MachineConfig {
  /** Restarts allowed after crashes in a row; the next crash is a crash loop. */
  maxRestarts: number;
  backoffMs: number;
  backoffCapMs: number;
  /** Healthy this long -> the crash counter is reset. */
  stableMs: number;
  /** A switch request found as a file while the child runs: time the child gets to exit 43 itself. */
  requestGraceMs: number;
}

/** Data every state carries. */
export interface Context {
  cfg: MachineConfig;
  /** The environment supervised (during a switch: the one running before it). */
  env: string;
  /** Restarts so far (requested and after crashes). */
  restarts: number;
  /** Crashes in a row (reset by a requested restart, a completed switch or a stable period). */
  crashes: number;
  /** Last id handed out for a child generation, a sync or a timer; stale events carry older ids. */
  seq: number;
  /**
   * A crash with `comfyui.extra_args` happened: plain starts leave them out until a requested
   * restart or a completed switch (ComfyGit's `_skip_extra_args`).
   */
  skipExtraArgs?: boolean;
}

/** A switch in progress. The lock is held while one exists. */
export interface SwitchContext {
  target: string;
  /** Where to roll back to; null when there is nothing to roll back to. */
  source: string | null;
}

/** Why a child is being launched (initial start is phase `starting`, the others `restarting`). */
export type LaunchPurpose = 'initial' | 'restart' | 'crash';

/** Supervisor states. `gen` is the id of a child (one start_child -> exactly one child_exited). */
export type SupervisorState =
  | { kind: 'idle'; ctx: Context }
  | { kind: 'syncing'; ctx: Context; purpose: LaunchPurpose; op: number }
  | { kind: 'validating'; ctx: Context; purpose: LaunchPurpose; gen: number }
  | { kind: 'running'; ctx: Context; gen: number }
  | { kind: 'stopping_child'; ctx: Context; gen: number; after: 'restart' | 'crash'; reason: string }
  | { kind: 'backoff'; ctx: Context; timer: number; delayMs: number }
  /** The child exited 43: reading `.switch_request.json`. `within`: a switch was already under way. */
  | {
      kind: 'awaiting_request';
      ctx: Context;
      within: { sw: SwitchContext; during: 'switch' | 'rollback' } | null;
    }
  /** Switch: the source child is being released (timer set while it gets the chance to exit 43). */
  | { kind: 'switch_releasing'; ctx: Context; sw: SwitchContext; gen: number; timer: number | null }
  | { kind: 'switch_syncing'; ctx: Context; sw: SwitchContext; op: number }
  | { kind: 'switch_validating'; ctx: Context; sw: SwitchContext; gen: number }
  | { kind: 'switch_stopping_target'; ctx: Context; sw: SwitchContext; gen: number; reason: string }
  | { kind: 'rollback_validating'; ctx: Context; sw: SwitchContext; gen: number; reason: string }
  | { kind: 'rollback_stopping'; ctx: Context; sw: SwitchContext; gen: number; reason: string }
  /** Shutting down: waiting for the child to exit. */
  | { kind: 'stopping'; ctx: Context; gen: number }
  | { kind: 'stopped'; ctx: Context }
  | { kind: 'crash_loop'; ctx: Context };

/** Names of the states. */
export type StateKind = SupervisorState['kind'];

/** Why a stop was asked for. */
export type StopReason = 'stop' | 'signal' | 'shutdown' | 'abort_switch';

/** Inputs of the machine. Everything that happened, as data. */
export type SupervisorEvent =
  /** Start supervising; `pending`: a switch request found at start (its lock already held). */
  | { type: 'boot'; pending?: SwitchContext }
  | { type: 'child_spawned'; gen: number; pid: number }
  /** The child exited, or never started (`startError`). Exactly once per start_child. */
  | {
      type: 'child_exited';
      gen: number;
      code: number | null;
      signal: string | null;
      startError?: string;
      /** The child was started with `comfyui.extra_args` of orchestrator_config.json. */
      usedExtraArgs?: boolean;
    }
  | { type: 'ready'; gen: number }
  | { type: 'readiness_failed'; gen: number; reason: 'timeout' | 'exited' | 'aborted'; message: string }
  | { type: 'restart_requested' }
  /** The liveness probe of running child `gen` failed its threshold (see liveness.ts). */
  | { type: 'liveness_failed'; gen: number; message: string }
  /** A switch was requested and its lock is held. `immediate: false` lets a running child exit 43 first. */
  | { type: 'switch_requested'; target: string; source: string | null; immediate: boolean }
  /** After an exit 43: no usable request (missing, corrupt, lock held elsewhere). */
  | { type: 'request_unavailable'; reason: string }
  | { type: 'stop_requested'; reason: StopReason }
  | { type: 'sync_done'; op: number }
  | { type: 'sync_failed'; op: number; error: string }
  | { type: 'backoff_elapsed'; timer: number }
  | { type: 'stable_elapsed'; gen: number }
  | { type: 'request_grace_elapsed'; timer: number };

/** Names of the events. */
export type EventType = SupervisorEvent['type'];

/** What the switch status file should say (`updated_at` is added by the interpreter). */
export interface StatusEffect {
  type: 'write_switch_status';
  state: SwitchState;
  message: string;
  target: string;
  source: string | null;
  error: string | null;
  /** critical_failure: the environment a human should bring back (the recovery command names it). */
  recover?: string;
}

/** Outputs of the machine, run in order by the effect interpreter. */
export type Effect =
  | { type: 'run_sync'; op: number; env: string }
  | { type: 'cancel_sync'; op: number }
  /** Wait until the previous child's group is gone and the port is free, then spawn. */
  | { type: 'start_child'; gen: number; env: string; plainArgs?: true }
  | { type: 'wait_ready'; gen: number; env: string }
  /** SIGTERM the group, grace, SIGKILL (idempotent; a child not yet spawned is cancelled). */
  | { type: 'stop_child'; gen: number }
  | { type: 'take_switch_request' }
  | { type: 'schedule_backoff'; timer: number; delayMs: number }
  | { type: 'schedule_stable'; gen: number; delayMs: number }
  | { type: 'schedule_request_grace'; timer: number; delayMs: number }
  | StatusEffect
  | { type: 'release_lock' }
  /** Supervision is over: reap, release, remove the PID file, resolve `done`. */
  | { type: 'finish'; exitCode: 0 | 4; reason: string };

/** Names of the effects. */
export type EffectType = Effect['type'];

/** Result of one transition. Ignored events return the very same state object and no effects (an event can also keep the state and still have effects). */
export interface Transition {
  state: SupervisorState;
  effects: Effect[];
}
