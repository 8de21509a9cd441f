/**
 * Runs one effect of the state machine against the real world. Quick effects (status, lock,
 * finish) complete before the next effect; long ones (sync, start, readiness, stop, timers) start
 * here and report back through `rt.dispatch` later. An effect never awaits `dispatch`.
 */
import { assertNever } from '../core/errors.ts';
import type { Children } from './children.ts';
import type { Effect, SupervisorEvent } from './machine-types.ts';
import { waitChildReady } from './readiness.ts';
import type { Settings } from './settings.ts';
import { runStatusEffect, type StatusHost } from './status-writer.ts';
import { runSync, type SyncHost } from './sync-runner.ts';

/** What running effects needs from the runtime (runtime.ts implements it). */
export interface EffectHost extends StatusHost, SyncHost {
  readonly settings: Settings;
  readonly children: Pick<Children, 'start' | 'stop' | 'get'>;
  readonly lock: { release(): Promise<void> };
  readonly lifetime: AbortController;
  dispatch(event: SupervisorEvent): Promise<void>;
  startSync(op: number, run: (signal: AbortSignal) => Promise<void>): void;
  /** Records how child `gen` is to be launched (before `children.start`). */
  noteLaunch(gen: number, plainArgs: boolean): void;
  cancelSync(op: number): void;
  takeRequest(): Promise<void>;
  schedule(ms: number, event: SupervisorEvent): void;
  finish(exitCode: 0 | 4, reason: string): Promise<void>;
}

/** Runs `effect` (see the module comment). */
export async function runEffect(rt: EffectHost, effect: Effect): Promise<void> {
  switch (effect.type) {
    case 'run_sync': {
      rt.startSync(effect.op, async (signal) => {
        const outcome = await runSync(rt, effect.env, signal);
        void rt.dispatch(
          outcome.ok
            ? { type: 'sync_done', op: effect.op }
            : { type: 'sync_failed', op: effect.op, error: outcome.error },
        );
      });
      return;
    }
    case 'cancel_sync':
      rt.cancelSync(effect.op);
      return;
    case 'start_child':
      rt.noteLaunch(effect.gen, effect.plainArgs === true);
      rt.children.start(effect.gen, effect.env);
      return;
    case 'wait_ready':
      void waitReady(rt, effect.gen, effect.env);
      return;
    case 'stop_child':
      rt.children.stop(effect.gen);
      return;
    case 'take_switch_request':
      void rt.takeRequest();
      return;
    case 'schedule_backoff':
      rt.schedule(effect.delayMs, { type: 'backoff_elapsed', timer: effect.timer });
      return;
    case 'schedule_stable':
      rt.schedule(effect.delayMs, { type: 'stable_elapsed', gen: effect.gen });
      return;
    case 'schedule_request_grace':
      rt.schedule(effect.delayMs, { type: 'request_grace_elapsed', timer: effect.timer });
      return;
    case 'write_switch_status':
      await runStatusEffect(rt, effect);
      return;
    case 'release_lock':
      await rt.lock.release();
      return;
    case 'finish':
      await rt.finish(effect.exitCode, effect.reason);
      return;
    default:
      assertNever(effect, 'effect');
  }
}

/** Checks the readiness of child `gen` and dispatches ready / readiness_failed. */
async function waitReady(rt: EffectHost, gen: number, env: string): Promise<void> {
  const entry = rt.children.get(gen);
  const proc = entry ? await entry.spawned : null;
  if (!entry || !proc || !entry.spec) {
    void rt.dispatch({
      type: 'readiness_failed',
      gen,
      reason: 'exited',
      message: 'the child did not start',
    });
    return;
  }
  const s = rt.settings;
  const result = await waitChildReady(entry.spec, proc.pid, {
    consecutive: s.readyConsecutive,
    intervalMs: s.healthIntervalMs,
    timeoutMs: s.healthTimeoutMs,
    signal: rt.lifetime.signal,
    exited: proc.exited,
  });
  rt.emit({
    type: 'readiness',
    at: Date.now(),
    environment: env,
    ok: result.ok,
    attempts: result.attempts,
    ...(result.ok ? {} : { reason: result.message }),
  });
  void rt.dispatch(
    result.ok
      ? { type: 'ready', gen }
      : { type: 'readiness_failed', gen, reason: result.reason, message: result.message },
  );
}
