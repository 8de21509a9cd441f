/**
 * The child lifecycle's pure step function, cell by cell: every phase × every event, with the
 * next phase and the actions the runner must take (child-lifecycle.ts).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { assertNever } from '../../src/core/errors.ts';
import { type ChildEvent, type ChildPhase, stepChild } from '../../src/supervisor/child-lifecycle.ts';

const PHASES: Record<ChildPhase['kind'], ChildPhase> = {
  starting: { kind: 'starting' },
  cancelling: { kind: 'cancelling' },
  running: { kind: 'running', pid: 100 },
  stopping: { kind: 'stopping', pid: 100 },
  exited: { kind: 'exited', outcome: { code: 0, signal: null } },
};

const EVENTS: Record<ChildEvent['type'], ChildEvent> = {
  spawned: { type: 'spawned', pid: 100 },
  start_failed: { type: 'start_failed', message: 'port busy' },
  stop: { type: 'stop' },
  exited: { type: 'exited', code: 1, signal: null },
};

/** [phase, event, next phase, actions]; '=' means "unchanged, no action". */
const TABLE: Array<[ChildPhase['kind'], ChildEvent['type'], ChildPhase['kind'] | '=', string[]]> = [
  ['starting', 'spawned', 'running', ['report_spawned:100']],
  ['starting', 'start_failed', 'exited', ['report_exited:start port busy']],
  ['starting', 'stop', 'cancelling', ['abort_start']],
  ['starting', 'exited', '=', []],
  ['cancelling', 'spawned', 'stopping', ['report_spawned:100', 'stop_group:100']],
  ['cancelling', 'start_failed', 'exited', ['report_exited:start start cancelled']],
  ['cancelling', 'stop', '=', []],
  ['cancelling', 'exited', '=', []],
  ['running', 'spawned', '=', []],
  ['running', 'start_failed', '=', []],
  ['running', 'stop', 'stopping', ['stop_group:100']],
  ['running', 'exited', 'exited', ['report_exited:code 1']],
  ['stopping', 'spawned', '=', []],
  ['stopping', 'start_failed', '=', []],
  ['stopping', 'stop', '=', []],
  ['stopping', 'exited', 'exited', ['report_exited:code 1']],
  ['exited', 'spawned', '=', []],
  ['exited', 'start_failed', '=', []],
  ['exited', 'stop', '=', []],
  ['exited', 'exited', '=', []],
];

function describeAction(a: ReturnType<typeof stepChild>['actions'][number]): string {
  switch (a.type) {
    case 'abort_start':
      return a.type;
    case 'stop_group':
    case 'report_spawned':
      return `${a.type}:${a.pid}`;
    case 'report_exited':
      return `${a.type}:${a.outcome.startError !== undefined ? `start ${a.outcome.startError}` : `code ${a.outcome.code}`}`;
    default:
      return assertNever(a, 'child action');
  }
}

describe('child lifecycle', () => {
  test('the table covers every phase × event cell exactly once', () => {
    const cells = TABLE.map(([p, e]) => `${p}/${e}`);
    assert.equal(new Set(cells).size, cells.length);
    assert.equal(cells.length, Object.keys(PHASES).length * Object.keys(EVENTS).length);
  });

  for (const [phase, event, next, actions] of TABLE) {
    test(`${phase} + ${event} -> ${next} [${actions.join(', ')}]`, () => {
      const before = PHASES[phase];
      const step = stepChild(before, EVENTS[event]);
      if (next === '=') assert.equal(step.phase, before);
      else assert.equal(step.phase.kind, next);
      assert.deepEqual(step.actions.map(describeAction), actions);
    });
  }

  test('every path ends in exited with exactly one report', () => {
    const paths: ChildEvent['type'][][] = [
      ['spawned', 'exited'],
      ['spawned', 'stop', 'stop', 'exited'],
      ['start_failed'],
      ['stop', 'start_failed'],
      ['stop', 'spawned', 'exited'],
    ];
    for (const path of paths) {
      let phase: ChildPhase = PHASES.starting;
      let reports = 0;
      for (const e of [...path, 'exited', 'stop'] as const) {
        const step = stepChild(phase, EVENTS[e]);
        reports += step.actions.filter((a) => a.type === 'report_exited').length;
        phase = step.phase;
      }
      assert.equal(phase.kind, 'exited', path.join(' '));
      assert.equal(reports, 1, path.join(' '));
    }
  });
});
