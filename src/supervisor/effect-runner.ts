/**
 * Runs one effect of the state machine against the real world. Quick effects (status, lock,
 * finish) complete before the next effect; long ones (sync, start, readiness, stop, timers) start
 * here and report back through `rt.dispatch` later. An effect never awaits `dispatch`.
 */
import type { Effect } from './machine-types.ts';
import { waitChildReady } from './readiness.ts';
import type { Runtime } from './runtime.ts';
import { runStatusEffect } from './status-writer.ts';
import { runSync } from './sync-runner.ts';

/** Runs `effect` (see the module comment). */
export async function runEffect(rt: Runtime, effect: Effect): Promise<void> {
  switch (effect.type) {
    case 'run_sync': {
      const ac = new AbortController();
      rt.syncs.set(effect.op, ac);
      void runSync(rt, effect.env, ac.signal).then((outcome) => {
        rt.syncs.delete(effect.op);
        void rt.dispatch(
          outcome.ok
            ? { type: 'sync_done', op: effect.op }
            : { type: 'sync_failed', op: effect.op, error: outcome.error },
        );
      });
      return;
    }
    case 'cancel_sync':
      rt.syncs.get(effect.op)?.abort();
      return;
    case 'start_child':
      rt.children.start(effect.gen, effect.env);
      return;
    case 'wait_ready':
      void waitReady(rt, effect.gen, effect.env);
      return;
    case 'stop_child':
      rt.children.stop(effect.gen);
      return;
    case 'take_switch_request':
      void rt.onTakeRequest();
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
  }
}

/** Checks the readiness of child `gen` and dispatches ready / readiness_failed. */
async function waitReady(rt: Runtime, gen: number, env: string): Promise<void> {
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
