/**
 * Public types of the supervisor engine: options, handle, status and the event records sent to
 * `onEvent` (the same records go, one JSON line each, to `.metadata/supervisor-switch.log`).
 */
import type { Phase } from './machine-types.ts';
import type { CommandName, SwitchStatus } from './protocol.ts';
import type { Workspace } from './workspace.ts';

/** Options of {@link startSupervisor}; durations in ms. */
export interface SupervisorOptions {
  workspace: Workspace;
  /** Environment to supervise (a pending fresh `.switch_request.json` found at start wins). */
  env: string;
  /** Server args appended to the environment's start command (ComfyUI args after `--`). */
  serverArgs?: string[];
  /** Readiness probe interval (default and bounds: `SUPERVISOR_SETTINGS.healthIntervalMs`). */
  healthIntervalMs?: number;
  /** Readiness bound per start (default and bounds: `SUPERVISOR_SETTINGS.healthTimeoutMs`). */
  healthTimeoutMs?: number;
  /** Consecutive successful probes that make a child ready (default and bounds: `SUPERVISOR_SETTINGS.readyConsecutive`). */
  readyConsecutive?: number;
  /** SIGTERM -> SIGKILL grace when stopping a child (default and bounds: `SUPERVISOR_SETTINGS.graceMs`). */
  graceMs?: number;
  /** Restarts allowed after crashes in a row; the next crash ends in crash_loop (default and bounds: `SUPERVISOR_SETTINGS.maxRestarts`). */
  maxRestarts?: number;
  /** First crash backoff, doubled per crash in a row (default and bounds: `SUPERVISOR_SETTINGS.backoffMs`). */
  backoffMs?: number;
  /** Backoff cap (default and bounds: `SUPERVISOR_SETTINGS.backoffCapMs`). */
  backoffCapMs?: number;
  /** Healthy this long resets the crash counter (default and bounds: `SUPERVISOR_SETTINGS.stableMs`). */
  stableMs?: number;
  /** Switch lock staleness (default and bounds: `SUPERVISOR_SETTINGS.lockTtlMs`). */
  lockTtlMs?: number;
  /** Bound on waiting for the port to be released before a start (default and bounds: `SUPERVISOR_SETTINGS.portFreeTimeoutMs`). */
  portFreeTimeoutMs?: number;
  /** A request file found while the child runs: time it gets to exit 43 by itself (default and bounds: `SUPERVISOR_SETTINGS.requestGraceMs`). */
  requestGraceMs?: number;
  /** How long a completed/rolled-back/aborted status stays before it is removed (default and bounds: `SUPERVISOR_SETTINGS.statusRetentionMs`). */
  statusRetentionMs?: number;
  /** Poll interval for `.cmd` and `.switch_request.json` (default and bounds: `SUPERVISOR_SETTINGS.pollIntervalMs`). */
  pollIntervalMs?: number;
  /** Aborting it stops the supervisor like stop(). */
  signal?: AbortSignal;
  onEvent?: (event: SupervisorEventRecord) => void;
  /** Kill the child when the supervisor dies (setpriv --pdeathsig KILL; default true). */
  pdeathsig?: boolean;
  /** Bound on ComfyGit's sync (`cg -e <env> sync`) in ms (default 600 s; `orchestrator.sync_timeout_s`). */
  syncTimeoutMs?: number;
  /** Base environment of the child and of sync commands (default: process.env). */
  baseEnv?: Readonly<Record<string, string | undefined>>;
}

/** What `status --json` prints (`running`/`pid` are the supervisor's). */
export interface SupervisorStatus {
  running: boolean;
  pid: number;
  environment: string;
  childPid: number | null;
  state: Phase;
  restarts: number;
  /** Content of `.switch_status.json` as last written or read, or null. */
  switchStatus: SwitchStatus | null;
}

/** How supervision ended. */
export interface SupervisorResult {
  /** 0: stopped (stop(), signal, shutdown command, child exit 0); 4: crash_loop. */
  exitCode: 0 | 4;
  state: 'stopped' | 'crash_loop';
  reason: string;
}

/** A running supervisor. */
export interface SupervisorHandle {
  status(): SupervisorStatus;
  /** Restart the child (sync first). Ignored during a switch. */
  restart(): void;
  /**
   * Start a switch to `target`. Resolves once the switch has begun (its lock held); follow it
   * with onChange/status. Rejects with E_SWITCH_IN_PROGRESS (exit 6) when one is under way or the
   * lock is held, E_INVALID_INPUT / E_ENV_NOT_FOUND / E_ENV_INVALID for a bad target,
   * E_SUPERVISOR_STOPPED when supervision is over.
   */
  switchTo(target: string): Promise<void>;
  /** Stop supervising: child group SIGTERM, grace, SIGKILL; resolves when done. */
  stop(): Promise<void>;
  /** Settles when supervision is over; rejects only for start-up errors (E_SUPERVISOR_RUNNING, E_ENV_*, ...). */
  done: Promise<SupervisorResult>;
  /** Called after every state change (phase, child, switch status); returns an unsubscribe function. */
  onChange(listener: (status: SupervisorStatus) => void): () => void;
}

/** Events, in time order. `at` is ms since the epoch. */
export type SupervisorEventRecord =
  | { type: 'started'; at: number; pid: number; environment: string; workspace: string }
  | { type: 'state'; at: number; from: string; to: string; phase: Phase; environment: string; cause: string }
  | { type: 'child_started'; at: number; environment: string; pid: number; argv: string[] }
  | {
      type: 'child_exited';
      at: number;
      environment: string;
      pid: number | null;
      code: number | null;
      signal: string | null;
      error?: string;
    }
  | { type: 'child_output'; at: number; stream: 'stdout' | 'stderr'; line: string; pid: number }
  | { type: 'readiness'; at: number; environment: string; ok: boolean; attempts: number; reason?: string }
  | { type: 'sync'; at: number; environment: string; ok: boolean; message: string }
  | { type: 'switch_status'; at: number; status: SwitchStatus }
  | {
      type: 'command';
      at: number;
      command: CommandName | 'switch';
      source: 'file' | 'api';
      accepted: boolean;
      detail?: string;
    }
  | { type: 'switch_refused'; at: number; target: string; reason: string }
  | { type: 'protocol_issue'; at: number; file: string; problem: string }
  | { type: 'reaped'; at: number; pid: number; pgid: number; reason: string }
  | { type: 'warning'; at: number; message: string }
  | { type: 'finished'; at: number; exitCode: 0 | 4; state: 'stopped' | 'crash_loop'; reason: string };
