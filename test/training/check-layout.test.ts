/**
 * `train check` judges the plan as it stands: a node whose script changed since planning is named,
 * but the checks still describe the planned world (nothing is excluded or redistributed by a check).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { layoutRanks } from '../../src/training/layout.ts';
import { preflight } from '../../src/training/preflight.ts';
import { calibration, cluster, facts, HASH_A, HASH_B, okProbe } from './plan-facts.ts';

describe('layout against a plan (train check)', () => {
  it('keeps a node whose script changed since the plan: world size and shards stay the planned ones', () => {
    const c = cluster([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    const f = facts({
      cluster: c,
      calibration: { source: 'file', report: calibration({ a: 100, b: 37, c: 11.3 }) },
      probes: [okProbe('a'), okProbe('b', HASH_B), okProbe('c')],
    });
    const planned = layoutRanks(facts({ ...f, probes: c.nodes.map((n) => okProbe(n.name)) }));
    const layout = layoutRanks(f, { referenceHash: HASH_A });
    assert.equal(layout.consistency.status, 'warn');
    assert.deepEqual(
      layout.consistency.divergent.map((d) => d.node),
      ['b'],
    );
    assert.deepEqual(layout.excluded, []);
    assert.deepEqual(
      layout.ranks.map((r) => [r.node, r.start, r.end]),
      planned.ranks.map((r) => [r.node, r.start, r.end]),
    );
    const checks = preflight(f, { referenceHash: HASH_A, layout });
    const byName = Object.fromEntries(checks.checks.map((x) => [x.name, x.message]));
    assert.match(byName.worker_layer!, /world size 3/);
    assert.match(byName.gradient_layer!, /over 3 ranks/);
    assert.doesNotMatch(checks.checks.map((x) => x.message).join('\n'), /redistributed/);
  });

  it('planning (no reference) still excludes a divergent minority', () => {
    const c = cluster([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    const f = facts({
      cluster: c,
      calibration: { source: 'file', report: calibration({ a: 1, b: 1, c: 1 }) },
      probes: [okProbe('a'), okProbe('b', HASH_B), okProbe('c')],
    });
    assert.deepEqual(
      layoutRanks(f).excluded.map((e) => e.node),
      ['b'],
    );
  });
});
