import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type {
  Context,
  Effect,
  MachineConfig,
  SupervisorEvent,
  SupervisorState,
  SwitchContext,
} from '../../src/supervisor/index.ts';
import { activeSwitch, initialState, isFinal, phaseOf, transition } from '../../src/supervisor/index.ts';
import { TERMINAL_SWITCH_STATES } from '../../src/supervisor/protocol.ts';

const cfg: MachineConfig = {
  maxRestarts: 2,
  backoffMs: 1000,
  backoffCapMs: 60_000,
  stableMs: 30_000,
  requestGraceMs: 3000,
};
const ctx: Context = { cfg, env: 'a', restarts: 0, crashes: 0, seq: 10 };
const sw: SwitchContext = { target: 'b', source: 'a' };
const G = 7; // live child generation used in the states below
const OP = 8;
const T = 9;

const S = {
  idle: initialState('a', cfg),
  syncing: { kind: 'syncing', ctx, purpose: 'initial', op: OP },
  validating: { kind: 'validating', ctx, purpose: 'initial', gen: G },
  validatingAfterCrash: { kind: 'validating', ctx: { ...ctx, crashes: 1 }, purpose: 'crash', gen: G },
  running: { kind: 'running', ctx, gen: G },
  runningCrashed: { kind: 'running', ctx: { ...ctx, crashes: 2 }, gen: G },
  stoppingRestart: { kind: 'stopping_child', ctx, gen: G, after: 'restart', reason: 'restart requested' },
  stoppingCrash: { kind: 'stopping_child', ctx, gen: G, after: 'crash', reason: 'not ready' },
  backoff: { kind: 'backoff', ctx: { ...ctx, crashes: 1 }, timer: T, delayMs: 1000 },
  awaiting: { kind: 'awaiting_request', ctx, within: null },
  awaitingInSwitch: { kind: 'awaiting_request', ctx, within: { sw, during: 'switch' } },
  awaitingInRollback: { kind: 'awaiting_request', ctx, within: { sw, during: 'rollback' } },
  releasing: { kind: 'switch_releasing', ctx, sw, gen: G, timer: T },
  swSyncing: { kind: 'switch_syncing', ctx, sw, op: OP },
  swValidating: { kind: 'switch_validating', ctx, sw, gen: G },
  swValidatingNoSource: { kind: 'switch_validating', ctx, sw: { target: 'b', source: null }, gen: G },
  swStopping: { kind: 'switch_stopping_target', ctx, sw, gen: G, reason: 'b not ready' },
  rbValidating: { kind: 'rollback_validating', ctx: { ...ctx, env: 'a' }, sw, gen: G, reason: 'b crashed' },
  rbStopping: { kind: 'rollback_stopping', ctx, sw, gen: G, reason: 'b crashed' },
  stopping: { kind: 'stopping', ctx, gen: G },
  stopped: { kind: 'stopped', ctx },
  crashLoop: { kind: 'crash_loop', ctx },
} satisfies Record<string, SupervisorState>;

const exit = (code: number | null, signal: string | null = null, gen = G): SupervisorEvent => ({
  type: 'child_exited',
  gen,
  code,
  signal,
});
const E = {
  exit0: exit(0),
  exit42: exit(42),
  exit43: exit(43),
  exit1: exit(1),
  killed: exit(null, 'SIGKILL'),
  startError: { type: 'child_exited', gen: G, code: null, signal: null, startError: 'E_PORT_BUSY' },
  staleExit: exit(1, null, G - 1),
  ready: { type: 'ready', gen: G },
  staleReady: { type: 'ready', gen: G - 1 },
  timeout: { type: 'readiness_failed', gen: G, reason: 'timeout', message: 'not ready after 1 ms' },
  notReadyExited: { type: 'readiness_failed', gen: G, reason: 'exited', message: 'exited' },
  restart: { type: 'restart_requested' },
  switchB: { type: 'switch_requested', target: 'b', source: 'a', immediate: true },
  switchBFile: { type: 'switch_requested', target: 'b', source: 'a', immediate: false },
  switchC: { type: 'switch_requested', target: 'c', source: 'b', immediate: true },
  unavailable: { type: 'request_unavailable', reason: 'missing' },
  stop: { type: 'stop_requested', reason: 'stop' },
  abortSwitch: { type: 'stop_requested', reason: 'abort_switch' },
  syncDone: { type: 'sync_done', op: OP },
  syncFailed: { type: 'sync_failed', op: OP, error: 'exit 1' },
  staleSync: { type: 'sync_done', op: OP - 1 },
  backoffElapsed: { type: 'backoff_elapsed', timer: T },
  staleBackoff: { type: 'backoff_elapsed', timer: T - 1 },
  stable: { type: 'stable_elapsed', gen: G },
  grace: { type: 'request_grace_elapsed', timer: T },
  spawned: { type: 'child_spawned', gen: G, pid: 4242 },
  boot: { type: 'boot' },
  bootPending: { type: 'boot', pending: sw },
  livenessFailed: { type: 'liveness_failed', gen: G, message: 'timed out' },
  exit1ExtraArgs: { type: 'child_exited', gen: G, code: 1, signal: null, usedExtraArgs: true },
} satisfies Record<string, SupervisorEvent>;

/** Effect types in order; a status effect is shown as `status:<state>`. */
function shape(effects: Effect[]): string[] {
  return effects.map((e) => (e.type === 'write_switch_status' ? `status:${e.state}` : e.type));
}

type Row = [
  state: keyof typeof S,
  event: keyof typeof E,
  kind: SupervisorState['kind'] | 'same',
  effects: string[],
];

const rows: Row[] = [
  // start
  ['idle', 'boot', 'syncing', ['run_sync']],
  ['idle', 'bootPending', 'switch_syncing', ['status:preparing', 'status:syncing', 'run_sync']],
  ['idle', 'stop', 'stopped', ['finish']],
  ['idle', 'switchB', 'switch_syncing', ['status:preparing', 'status:syncing', 'run_sync']],
  ['syncing', 'syncDone', 'validating', ['start_child', 'wait_ready']],
  ['syncing', 'staleSync', 'same', []],
  ['syncing', 'syncFailed', 'backoff', ['schedule_backoff']],
  ['syncing', 'stop', 'stopped', ['cancel_sync', 'finish']],
  ['syncing', 'restart', 'same', []],
  ['syncing', 'switchB', 'switch_syncing', ['cancel_sync', 'status:preparing', 'status:syncing', 'run_sync']],
  // readiness: exit codes keep their meaning while readiness is checked
  ['validating', 'ready', 'running', ['schedule_stable']],
  ['validating', 'staleReady', 'same', []],
  ['validating', 'exit0', 'stopped', ['finish']],
  ['validating', 'exit42', 'syncing', ['run_sync']],
  ['validating', 'exit43', 'awaiting_request', ['take_switch_request']],
  ['validating', 'exit1', 'backoff', ['schedule_backoff']],
  ['validating', 'startError', 'backoff', ['schedule_backoff']],
  ['validating', 'staleExit', 'same', []],
  ['validating', 'timeout', 'stopping_child', ['stop_child']],
  ['validating', 'notReadyExited', 'same', []],
  ['validating', 'restart', 'stopping_child', ['stop_child']],
  ['validating', 'stop', 'stopping', ['stop_child']],
  ['validating', 'switchB', 'switch_releasing', ['status:preparing', 'stop_child']],
  ['validatingAfterCrash', 'ready', 'running', ['schedule_stable']],
  // running
  ['running', 'exit0', 'stopped', ['finish']],
  ['running', 'exit42', 'syncing', ['run_sync']],
  ['running', 'exit43', 'awaiting_request', ['take_switch_request']],
  ['running', 'exit1', 'backoff', ['schedule_backoff']],
  // ComfyGit's first recovery step: a crash with extra_args is retried at once without them.
  ['running', 'exit1ExtraArgs', 'validating', ['status:recovering', 'start_child', 'wait_ready']],
  ['running', 'livenessFailed', 'stopping_child', ['stop_child']],
  ['validating', 'livenessFailed', 'same', []],
  ['running', 'killed', 'backoff', ['schedule_backoff']],
  ['running', 'staleExit', 'same', []],
  ['running', 'restart', 'stopping_child', ['stop_child']],
  ['running', 'stop', 'stopping', ['stop_child']],
  ['running', 'abortSwitch', 'stopping', ['stop_child']],
  ['running', 'switchB', 'switch_releasing', ['status:preparing', 'stop_child']],
  ['running', 'switchBFile', 'switch_releasing', ['status:preparing', 'schedule_request_grace']],
  ['running', 'stable', 'same', []],
  ['runningCrashed', 'stable', 'running', []],
  ['runningCrashed', 'exit1', 'crash_loop', ['finish']],
  // stopping the child for a restart / after a readiness timeout
  ['stoppingRestart', 'exit1', 'syncing', ['run_sync']],
  ['stoppingRestart', 'killed', 'syncing', ['run_sync']],
  ['stoppingCrash', 'killed', 'backoff', ['schedule_backoff']],
  ['stoppingRestart', 'stop', 'stopping', ['stop_child']],
  ['stoppingRestart', 'switchB', 'switch_releasing', ['status:preparing', 'stop_child']],
  // backoff
  ['backoff', 'backoffElapsed', 'validating', ['start_child', 'wait_ready']],
  ['backoff', 'staleBackoff', 'same', []],
  ['backoff', 'restart', 'syncing', ['run_sync']],
  ['backoff', 'stop', 'stopped', ['finish']],
  ['backoff', 'switchB', 'switch_syncing', ['status:preparing', 'status:syncing', 'run_sync']],
  // exit 43: the request
  ['awaiting', 'switchB', 'switch_syncing', ['status:preparing', 'status:syncing', 'run_sync']],
  ['awaiting', 'unavailable', 'syncing', ['run_sync']],
  ['awaiting', 'stop', 'stopped', ['finish']],
  ['awaiting', 'restart', 'same', []],
  ['awaitingInSwitch', 'switchC', 'switch_syncing', ['status:preparing', 'status:syncing', 'run_sync']],
  ['awaitingInSwitch', 'unavailable', 'switch_syncing', ['status:syncing', 'run_sync']],
  ['awaitingInSwitch', 'stop', 'stopped', ['release_lock', 'status:critical_failure', 'finish']],
  ['awaitingInRollback', 'unavailable', 'rollback_validating', ['start_child', 'wait_ready']],
  ['awaitingInRollback', 'switchC', 'switch_syncing', ['status:preparing', 'status:syncing', 'run_sync']],
  // switch: releasing the source
  ['releasing', 'exit43', 'switch_syncing', ['status:syncing', 'run_sync']],
  ['releasing', 'exit0', 'switch_syncing', ['status:syncing', 'run_sync']],
  ['releasing', 'killed', 'switch_syncing', ['status:syncing', 'run_sync']],
  ['releasing', 'grace', 'same', ['stop_child']],
  ['releasing', 'restart', 'same', []],
  ['releasing', 'switchC', 'same', []],
  ['releasing', 'stop', 'stopping', ['release_lock', 'status:critical_failure', 'stop_child']],
  // switch: syncing the target
  ['swSyncing', 'syncDone', 'switch_validating', ['status:starting', 'start_child', 'wait_ready']],
  ['swSyncing', 'syncFailed', 'rollback_validating', ['status:rolling_back', 'start_child', 'wait_ready']],
  ['swSyncing', 'staleSync', 'same', []],
  ['swSyncing', 'stop', 'stopped', ['cancel_sync', 'release_lock', 'status:critical_failure', 'finish']],
  ['swSyncing', 'abortSwitch', 'stopped', ['cancel_sync', 'release_lock', 'status:aborted', 'finish']],
  // switch: validating the target (exit codes during readiness)
  ['swValidating', 'spawned', 'same', ['status:validating']],
  ['swValidating', 'ready', 'running', ['release_lock', 'status:complete', 'schedule_stable']],
  ['swValidating', 'exit0', 'stopped', ['release_lock', 'status:aborted', 'finish']],
  ['swValidating', 'exit42', 'switch_syncing', ['status:syncing', 'run_sync']],
  ['swValidating', 'exit43', 'awaiting_request', ['take_switch_request']],
  ['swValidating', 'exit1', 'rollback_validating', ['status:rolling_back', 'start_child', 'wait_ready']],
  ['swValidating', 'startError', 'rollback_validating', ['status:rolling_back', 'start_child', 'wait_ready']],
  ['swValidating', 'timeout', 'switch_stopping_target', ['stop_child']],
  ['swValidating', 'notReadyExited', 'same', []],
  ['swValidating', 'restart', 'same', []],
  ['swValidating', 'switchC', 'same', []],
  ['swValidating', 'stop', 'stopping', ['release_lock', 'status:critical_failure', 'stop_child']],
  ['swValidatingNoSource', 'exit1', 'backoff', ['release_lock', 'status:failed', 'schedule_backoff']],
  ['swStopping', 'killed', 'rollback_validating', ['status:rolling_back', 'start_child', 'wait_ready']],
  ['swStopping', 'stop', 'stopping', ['release_lock', 'status:critical_failure', 'stop_child']],
  // rollback
  ['rbValidating', 'ready', 'running', ['release_lock', 'status:rolled_back', 'schedule_stable']],
  ['rbValidating', 'exit1', 'backoff', ['release_lock', 'status:critical_failure', 'schedule_backoff']],
  ['rbValidating', 'startError', 'backoff', ['release_lock', 'status:critical_failure', 'schedule_backoff']],
  ['rbValidating', 'exit0', 'stopped', ['release_lock', 'status:aborted', 'finish']],
  ['rbValidating', 'exit42', 'rollback_validating', ['start_child', 'wait_ready']],
  ['rbValidating', 'exit43', 'awaiting_request', ['take_switch_request']],
  ['rbValidating', 'timeout', 'rollback_stopping', ['stop_child']],
  ['rbValidating', 'stop', 'stopping', ['release_lock', 'status:critical_failure', 'stop_child']],
  ['rbStopping', 'killed', 'backoff', ['release_lock', 'status:critical_failure', 'schedule_backoff']],
  // shutting down
  ['stopping', 'killed', 'stopped', ['finish']],
  ['stopping', 'exit42', 'stopped', ['finish']],
  ['stopping', 'staleExit', 'same', []],
  ['stopping', 'stop', 'same', []],
  ['stopping', 'switchB', 'same', []],
  ['stopped', 'boot', 'same', []],
  ['crashLoop', 'restart', 'same', []],
];

describe('state machine: transition table', () => {
  for (const [stateName, eventName, kind, effects] of rows) {
    test(`${stateName} + ${eventName} -> ${kind} [${effects.join(', ')}]`, () => {
      const state = S[stateName];
      const result = transition(state, E[eventName]);
      if (kind === 'same') assert.equal(result.state, state);
      else assert.equal(result.state.kind, kind);
      assert.deepEqual(shape(result.effects), effects);
    });
  }
});

describe('state machine: details', () => {
  test('crash backoff doubles and is capped; crash_loop after maxRestarts restarts in a row', () => {
    let state: SupervisorState = S.running;
    const delays: number[] = [];
    const capped = { ...cfg, maxRestarts: 8, backoffMs: 1000, backoffCapMs: 5000 };
    state = { ...S.running, ctx: { ...ctx, cfg: capped } };
    for (let i = 0; i < 8; i++) {
      const gen = (state as { gen: number }).gen;
      const crashed = transition(state, { type: 'child_exited', gen, code: 1, signal: null });
      assert.equal(crashed.state.kind, 'backoff');
      const eff = crashed.effects[0];
      assert.ok(eff?.type === 'schedule_backoff');
      delays.push(eff.delayMs);
      const restarted = transition(crashed.state, { type: 'backoff_elapsed', timer: eff.timer });
      assert.equal(restarted.state.kind, 'validating');
      state = restarted.state;
    }
    assert.deepEqual(delays, [1000, 2000, 4000, 5000, 5000, 5000, 5000, 5000]);
    assert.equal(state.ctx.restarts, 8);
    const gen = (state as { gen: number }).gen;
    const last = transition(state, { type: 'child_exited', gen, code: 1, signal: null });
    assert.equal(last.state.kind, 'crash_loop');
    assert.deepEqual(
      last.effects.map((e) => e.type === 'finish' && e.exitCode),
      [4],
    );
    assert.equal(phaseOf(last.state), 'crash_loop');
  });

  test('maxRestarts 0: the very first crash (also at the first start) is a crash loop', () => {
    const st: SupervisorState = {
      kind: 'validating',
      ctx: { ...ctx, cfg: { ...cfg, maxRestarts: 0 } },
      purpose: 'initial',
      gen: G,
    };
    assert.equal(transition(st, E.exit1).state.kind, 'crash_loop');
  });

  test('exit 42 is not a crash: it resets the crash counter and counts a restart', () => {
    const r = transition(S.runningCrashed, E.exit42);
    assert.equal(r.state.ctx.crashes, 0);
    assert.equal(r.state.ctx.restarts, 1);
    assert.equal(phaseOf(r.state), 'restarting');
  });

  test('a completed switch makes the target the supervised environment', () => {
    const r = transition(S.swValidating, E.ready);
    assert.equal(r.state.ctx.env, 'b');
    const st = r.effects.find((e) => e.type === 'write_switch_status');
    assert.ok(st?.type === 'write_switch_status');
    assert.deepEqual([st.target, st.source, st.error], ['b', 'a', null]);
  });

  test('a rollback runs the source and reports why the target failed', () => {
    const r = transition(S.swValidating, E.exit1);
    assert.equal(r.state.ctx.env, 'a');
    assert.deepEqual(
      r.effects.filter((e) => e.type === 'start_child').map((e) => e.type === 'start_child' && e.env),
      ['a'],
    );
    const done = transition(r.state, { type: 'ready', gen: (r.state as { gen: number }).gen });
    const st = done.effects.find((e) => e.type === 'write_switch_status');
    assert.ok(st?.type === 'write_switch_status' && st.state === 'rolled_back');
    assert.match(st.error ?? '', /b exited with code 1/);
  });

  test('critical_failure names the environment to recover', () => {
    const r = transition(S.rbValidating, E.exit1);
    const st = r.effects.find((e) => e.type === 'write_switch_status');
    assert.ok(st?.type === 'write_switch_status');
    assert.equal(st.recover, 'a');
  });

  test('a second exit 43 inside a switch keeps the original rollback source', () => {
    const r = transition(S.awaitingInSwitch, {
      type: 'switch_requested',
      target: 'c',
      source: 'b',
      immediate: true,
    });
    assert.deepEqual(activeSwitch(r.state), { target: 'c', source: 'a' });
  });

  test('a pending request at boot switches without a running child', () => {
    const r = transition(S.idle, E.bootPending);
    assert.equal(phaseOf(r.state), 'switching');
    assert.deepEqual(activeSwitch(r.state), sw);
  });

  test('phases', () => {
    assert.equal(phaseOf(S.idle), 'starting');
    assert.equal(phaseOf(S.validating), 'starting');
    assert.equal(phaseOf(S.validatingAfterCrash), 'restarting');
    assert.equal(phaseOf(S.backoff), 'restarting');
    assert.equal(phaseOf(S.running), 'running');
    assert.equal(phaseOf(S.swSyncing), 'switching');
    assert.equal(phaseOf(S.awaitingInRollback), 'rolling_back');
    assert.equal(phaseOf(S.rbStopping), 'rolling_back');
    assert.equal(phaseOf(S.stopping), 'stopped');
    assert.ok(isFinal(S.stopped) && isFinal(S.crashLoop) && !isFinal(S.stopping));
  });
});

describe('state machine: invariants over random event sequences', () => {
  const eventArb: fc.Arbitrary<(gen: number, op: number, timer: number) => SupervisorEvent> = fc.oneof(
    fc.constantFrom<number | null>(0, 1, 42, 43, null).map((code) => (gen: number) => ({
      type: 'child_exited' as const,
      gen,
      code,
      signal: code === null ? 'SIGKILL' : null,
    })),
    fc.constant((gen: number) => ({ type: 'ready' as const, gen })),
    fc.constant((gen: number) => ({
      type: 'readiness_failed' as const,
      gen,
      reason: 'timeout' as const,
      message: 't',
    })),
    fc.constant((gen: number, _op: number) => ({ type: 'child_spawned' as const, gen, pid: 1 })),
    fc.constant(() => ({ type: 'restart_requested' as const })),
    fc
      .constantFrom('b', 'c')
      .map((target) => () => ({ type: 'switch_requested' as const, target, source: null, immediate: true })),
    fc.constant(() => ({ type: 'request_unavailable' as const, reason: 'x' })),
    fc.constant((_g: number, op: number) => ({ type: 'sync_done' as const, op })),
    fc.constant((_g: number, op: number) => ({ type: 'sync_failed' as const, op, error: 'e' })),
    fc.constant((_g: number, _o: number, timer: number) => ({ type: 'backoff_elapsed' as const, timer })),
    fc.constant((_g: number, _o: number, timer: number) => ({
      type: 'request_grace_elapsed' as const,
      timer,
    })),
    fc.constant((gen: number) => ({ type: 'stable_elapsed' as const, gen })),
  );

  test('lock released before every terminal status; every switch ends in a terminal status; one exit per start', () => {
    // Pinned and printed: a failure names its seed, and the next run checks the same cases.
    const seed = Number(process.env.MARSHAL_PROPERTY_SEED ?? 1_202_2026);
    console.log(`# property seed ${seed} (rerun with MARSHAL_PROPERTY_SEED=${seed})`);
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.array(eventArb, { maxLength: 60 }),
        fc.boolean(),
        (pending, makers, stopAtEnd) => {
          let state: SupervisorState = initialState('a', { ...cfg, maxRestarts: 3 });
          state = transition(state, pending ? E.bootPending : E.boot).state;
          let gen = 0;
          let op = 0;
          let timer = 0;
          const started = new Set<number>();
          const seq = [...makers.map((m) => () => m(gen, op, timer)), ...(stopAtEnd ? [() => E.stop] : [])];
          for (const next of seq) {
            const before = state;
            const { state: after, effects } = transition(before, next());
            const types = shape(effects);
            types.forEach((t, i) => {
              if (t.startsWith('status:') && TERMINAL_SWITCH_STATES.has(t.slice(7))) {
                assert.equal(types[i - 1], 'release_lock', `terminal status without prior release: ${types}`);
              }
            });
            const terminalWritten = types.some(
              (t) => t.startsWith('status:') && TERMINAL_SWITCH_STATES.has(t.slice(7)),
            );
            if (activeSwitch(before) && !activeSwitch(after)) {
              assert.ok(
                terminalWritten,
                `switch ended without terminal status: ${before.kind} -> ${after.kind}`,
              );
            }
            if (isFinal(before)) assert.equal(after, before);
            for (const e of effects) {
              if (e.type === 'start_child') {
                assert.ok(!started.has(e.gen), 'a generation started twice');
                started.add(e.gen);
                gen = e.gen;
              }
              if (e.type === 'run_sync') op = e.op;
              if (e.type === 'schedule_backoff' || e.type === 'schedule_request_grace') timer = e.timer;
            }
            assert.ok(phaseOf(after));
            state = after;
          }
          if (stopAtEnd && state.kind !== 'stopping') assert.ok(isFinal(state), `stop left ${state.kind}`);
        },
      ),
      { numRuns: 300, seed },
    );
  });
});
