/**
 * The launch lifecycle's pure step function, table-driven: every state against every event, each
 * row naming the next state and the effects. Processes are written as `p`ending, `l`ive, or
 * exited with their code (`0`, `1`, `-` for a signal), with a stop reason after a slash.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  initialLaunchState,
  type LaunchEffect,
  type LaunchEvent,
  type LaunchState,
  type ProcSlot,
  step,
} from '../../src/training/launch/lifecycle.ts';
import type { StopReason } from '../../src/training/launch/run-report.ts';

const REASONS: Record<string, StopReason> = {
  peer: 'peer_failed',
  hang: 'teardown_hang',
  abort: 'aborted',
  spawn: 'spawn_failed',
  failed: 'rank_failed',
  stalled: 'stalled',
  pstall: 'peer_stalled',
};

/** `p`, `l`, `l/peer`, `0`, `1`, `-/peer`, `x/spawn` (exited, never ran). */
function slot(text: string): ProcSlot {
  const [what, reason] = text.split('/') as [string, string | undefined];
  const stopped = reason ? REASONS[reason]! : null;
  if (what === 'p') return { phase: 'pending', code: null, stopped };
  if (what === 'l') return { phase: 'live', code: null, stopped };
  return { phase: 'exited', code: what === '-' || what === 'x' ? null : Number(what), stopped };
}

function state(kind: LaunchState['kind'], procs: string, reason?: string): LaunchState {
  const slots = procs.split(' ').map(slot);
  if (kind === 'stopping') return { kind, reason: REASONS[reason!]!, procs: slots };
  return { kind, procs: slots };
}

type Row = [name: string, from: LaunchState, event: LaunchEvent, to: LaunchState, effects: LaunchEffect[]];

const finish: LaunchEffect = { type: 'finish' };
const stop = (indices: number[], reason: StopReason): LaunchEffect => ({ type: 'stop', indices, reason });

const ROWS: Row[] = [
  // starting
  [
    'start spawns the first',
    state('starting', 'p p'),
    { type: 'start' },
    state('starting', 'p p'),
    [{ type: 'spawn', index: 0 }],
  ],
  [
    'an empty plan finishes at once',
    { kind: 'starting', procs: [] },
    { type: 'start' },
    { kind: 'done', procs: [] },
    [finish],
  ],
  [
    'spawned spawns the next',
    state('starting', 'p p'),
    { type: 'spawned', index: 0 },
    state('starting', 'l p'),
    [{ type: 'spawn', index: 1 }],
  ],
  [
    'the last spawned runs',
    state('starting', 'l p'),
    { type: 'spawned', index: 1 },
    state('running', 'l l'),
    [],
  ],
  [
    'the last spawned after a clean exit starts the grace',
    state('starting', '0 p'),
    { type: 'spawned', index: 1 },
    state('grace', '0 l'),
    [{ type: 'start_grace' }],
  ],
  [
    'a spawn failure stops the live and cancels the pending',
    state('starting', 'l p p'),
    { type: 'spawn_failed', index: 1 },
    state('stopping', 'l/peer x/spawn x/peer', 'peer'),
    [stop([0], 'peer_failed')],
  ],
  [
    'a first spawn failure finishes',
    state('starting', 'p p'),
    { type: 'spawn_failed', index: 0 },
    state('done', 'x/spawn x/peer'),
    [finish],
  ],
  [
    'a failure while starting stops and cancels',
    state('starting', 'l l p'),
    { type: 'exited', index: 0, code: 1 },
    state('stopping', '1 l/peer x/peer', 'peer'),
    [stop([1], 'peer_failed')],
  ],
  [
    'a clean exit while starting goes on',
    state('starting', 'l p'),
    { type: 'exited', index: 0, code: 0 },
    state('starting', '0 p'),
    [],
  ],
  [
    'abort while starting',
    state('starting', 'l p'),
    { type: 'aborted' },
    state('stopping', 'l/abort x/abort', 'abort'),
    [stop([0], 'aborted')],
  ],
  [
    'abort before anything started finishes',
    state('starting', 'p p'),
    { type: 'aborted' },
    state('done', 'x/abort x/abort'),
    [finish],
  ],
  [
    'a stale grace while starting',
    state('starting', 'l p'),
    { type: 'grace_expired' },
    state('starting', 'l p'),
    [],
  ],
  [
    "a rank's failure line while starting stops the rest, blaming its process",
    state('starting', 'l l p'),
    { type: 'rank_failed', index: 0 },
    state('stopping', 'l/failed l/peer x/peer', 'peer'),
    [stop([0], 'rank_failed'), stop([1], 'peer_failed')],
  ],
  [
    'a stall while starting',
    state('starting', 'l p'),
    { type: 'stalled', indices: [0] },
    state('stopping', 'l/stalled x/pstall', 'pstall'),
    [stop([0], 'stalled')],
  ],
  // running
  [
    'a clean exit starts the grace',
    state('running', 'l l'),
    { type: 'exited', index: 0, code: 0 },
    state('grace', '0 l'),
    [{ type: 'start_grace' }],
  ],
  [
    'the last clean exit finishes',
    state('running', 'l'),
    { type: 'exited', index: 0, code: 0 },
    state('done', '0'),
    [finish],
  ],
  [
    'a failure stops the others',
    state('running', 'l l l'),
    { type: 'exited', index: 2, code: 1 },
    state('stopping', 'l/peer l/peer 1', 'peer'),
    [stop([0, 1], 'peer_failed')],
  ],
  [
    'a signal counts as a failure',
    state('running', 'l l'),
    { type: 'exited', index: 0, code: null },
    state('stopping', '- l/peer', 'peer'),
    [stop([1], 'peer_failed')],
  ],
  [
    'the last failure finishes',
    state('running', 'l'),
    { type: 'exited', index: 0, code: 2 },
    state('done', '2'),
    [finish],
  ],
  [
    'abort stops all',
    state('running', 'l l'),
    { type: 'aborted' },
    state('stopping', 'l/abort l/abort', 'abort'),
    [stop([0, 1], 'aborted')],
  ],
  [
    "a rank's failure line stops every process at once, the reporting one too",
    state('running', 'l l l'),
    { type: 'rank_failed', index: 1 },
    state('stopping', 'l/peer l/failed l/peer', 'peer'),
    [stop([1], 'rank_failed'), stop([0, 2], 'peer_failed')],
  ],
  [
    'a stall stops every process, blaming the stalled ones',
    state('running', 'l l l'),
    { type: 'stalled', indices: [1] },
    state('stopping', 'l/pstall l/stalled l/pstall', 'pstall'),
    [stop([1], 'stalled'), stop([0, 2], 'peer_stalled')],
  ],
  [
    'a stall of the only live process',
    state('running', '0 l'),
    { type: 'stalled', indices: [1] },
    state('stopping', '0 l/stalled', 'pstall'),
    [stop([1], 'stalled')],
  ],
  [
    'a stale grace while running',
    state('running', 'l l'),
    { type: 'grace_expired' },
    state('running', 'l l'),
    [],
  ],
  [
    'start, spawned, spawn_failed are stale while running',
    state('running', 'l'),
    { type: 'spawned', index: 0 },
    state('running', 'l'),
    [],
  ],
  // grace
  [
    'the grace ends: stop and flag the rest',
    state('grace', '0 l l'),
    { type: 'grace_expired' },
    state('stopping', '0 l/hang l/hang', 'hang'),
    [stop([1, 2], 'teardown_hang')],
  ],
  [
    'a clean exit in grace with others live',
    state('grace', '0 l l'),
    { type: 'exited', index: 1, code: 0 },
    state('grace', '0 0 l'),
    [],
  ],
  [
    'the last clean exit in grace finishes and clears it',
    state('grace', '0 l'),
    { type: 'exited', index: 1, code: 0 },
    state('done', '0 0'),
    [{ type: 'clear_grace' }, finish],
  ],
  [
    'a failure in grace stops the rest and clears it',
    state('grace', '0 l l'),
    { type: 'exited', index: 1, code: 1 },
    state('stopping', '0 1 l/peer', 'peer'),
    [{ type: 'clear_grace' }, stop([2], 'peer_failed')],
  ],
  [
    'the last failure in grace finishes',
    state('grace', '0 l'),
    { type: 'exited', index: 1, code: 1 },
    state('done', '0 1'),
    [{ type: 'clear_grace' }, finish],
  ],
  [
    "a rank's failure line in grace clears it",
    state('grace', '0 l l'),
    { type: 'rank_failed', index: 2 },
    state('stopping', '0 l/peer l/failed', 'peer'),
    [{ type: 'clear_grace' }, stop([2], 'rank_failed'), stop([1], 'peer_failed')],
  ],
  [
    'a stall in grace clears it',
    state('grace', '0 l'),
    { type: 'stalled', indices: [1] },
    state('stopping', '0 l/stalled', 'pstall'),
    [{ type: 'clear_grace' }, stop([1], 'stalled')],
  ],
  [
    'abort in grace',
    state('grace', '0 l'),
    { type: 'aborted' },
    state('stopping', '0 l/abort', 'abort'),
    [{ type: 'clear_grace' }, stop([1], 'aborted')],
  ],
  // stopping
  [
    'an exit while stopping with others live',
    state('stopping', 'l/peer l/peer 1', 'peer'),
    { type: 'exited', index: 0, code: null },
    state('stopping', '-/peer l/peer 1', 'peer'),
    [],
  ],
  [
    'the last exit while stopping finishes',
    state('stopping', '-/peer l/peer 1', 'peer'),
    { type: 'exited', index: 1, code: null },
    state('done', '-/peer -/peer 1'),
    [finish],
  ],
  [
    'a late spawn while stopping is stopped too',
    state('stopping', 'l/abort p', 'abort'),
    { type: 'spawned', index: 1 },
    state('stopping', 'l/abort l/abort', 'abort'),
    [stop([1], 'aborted')],
  ],
  [
    'a late spawn failure while stopping',
    state('stopping', 'l/abort p', 'abort'),
    { type: 'spawn_failed', index: 1 },
    state('stopping', 'l/abort x/spawn', 'abort'),
    [],
  ],
  [
    'the last late spawn failure finishes',
    state('stopping', '-/abort p', 'abort'),
    { type: 'spawn_failed', index: 1 },
    state('done', '-/abort x/spawn'),
    [finish],
  ],
  [
    'abort while stopping is already handled',
    state('stopping', 'l/peer 1', 'peer'),
    { type: 'aborted' },
    state('stopping', 'l/peer 1', 'peer'),
    [],
  ],
  [
    "another rank's failure line while stopping is a consequence: nothing changes",
    state('stopping', 'l/peer l/failed', 'peer'),
    { type: 'rank_failed', index: 0 },
    state('stopping', 'l/peer l/failed', 'peer'),
    [],
  ],
  [
    'a stall while stopping is stale',
    state('stopping', 'l/abort l/abort', 'abort'),
    { type: 'stalled', indices: [0] },
    state('stopping', 'l/abort l/abort', 'abort'),
    [],
  ],
  [
    'grace while stopping is stale',
    state('stopping', 'l/hang 0', 'hang'),
    { type: 'grace_expired' },
    state('stopping', 'l/hang 0', 'hang'),
    [],
  ],
  // done
  [
    'done ignores exits',
    state('done', '0 0'),
    { type: 'exited', index: 0, code: 1 },
    state('done', '0 0'),
    [],
  ],
  ['done ignores aborts', state('done', '0'), { type: 'aborted' }, state('done', '0'), []],
  ['done ignores a late grace', state('done', '0'), { type: 'grace_expired' }, state('done', '0'), []],
  [
    'done ignores a late failure line',
    state('done', '1'),
    { type: 'rank_failed', index: 0 },
    state('done', '1'),
    [],
  ],
  [
    'done ignores a late stall',
    state('done', '0'),
    { type: 'stalled', indices: [0] },
    state('done', '0'),
    [],
  ],
];

describe('launch lifecycle (pure step)', () => {
  for (const [name, from, event, to, effects] of ROWS) {
    it(name, () => {
      const next = step(from, event);
      assert.deepEqual(next.state, to);
      assert.deepEqual(next.effects, effects);
    });
  }

  it('every state kind and event type appears in the table', () => {
    const kinds = new Set(ROWS.map((r) => r[1].kind));
    const types = new Set(ROWS.map((r) => r[2].type));
    assert.deepEqual([...kinds].sort(), ['done', 'grace', 'running', 'starting', 'stopping']);
    assert.deepEqual([...types].sort(), [
      'aborted',
      'exited',
      'grace_expired',
      'rank_failed',
      'spawn_failed',
      'spawned',
      'stalled',
      'start',
    ]);
  });

  it('starts with every process pending', () => {
    assert.deepEqual(initialLaunchState(2), state('starting', 'p p'));
  });
});
