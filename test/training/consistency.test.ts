import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assessConsistency } from '../../src/training/consistency.ts';

const h = (c: string) => c.repeat(64);

describe('assessConsistency', () => {
  it('passes when every node agrees', () => {
    const r = assessConsistency([
      { node: 'a', hash: h('1') },
      { node: 'b', hash: h('1') },
    ]);
    assert.equal(r.status, 'pass');
    assert.equal(r.agreement, 1);
    assert.deepEqual(r.included, ['a', 'b']);
  });

  it('excludes a strict-majority minority with a warning (1 of 4 divergent)', () => {
    const r = assessConsistency([
      { node: 'a', hash: h('1') },
      { node: 'b', hash: h('1') },
      { node: 'c', hash: h('2') },
      { node: 'd', hash: h('1') },
    ]);
    assert.equal(r.status, 'warn');
    assert.equal(r.agreement, 0.75);
    assert.deepEqual(r.included, ['a', 'b', 'd']);
    assert.deepEqual(
      r.divergent.map((d) => d.node),
      ['c'],
    );
  });

  it('fails without a strict majority (50/50, all different)', () => {
    assert.equal(
      assessConsistency([
        { node: 'a', hash: h('1') },
        { node: 'b', hash: h('2') },
      ]).status,
      'fail',
    );
    const r = assessConsistency([
      { node: 'a', hash: h('1') },
      { node: 'b', hash: h('2') },
      { node: 'c', hash: h('3') },
    ]);
    assert.equal(r.status, 'fail');
    assert.deepEqual(r.included, []);
  });

  it('counts an unreadable script as divergent', () => {
    const r = assessConsistency([
      { node: 'a', hash: h('1') },
      { node: 'b', hash: h('1') },
      { node: 'c', hash: null, error: 'FileNotFoundError' },
    ]);
    assert.equal(r.status, 'warn');
    assert.equal(r.divergent[0]?.reason, 'FileNotFoundError');
  });

  it('skips a single node, but fails it when its script is missing', () => {
    assert.equal(assessConsistency([{ node: 'a', hash: h('1') }]).status, 'skipped');
    assert.equal(assessConsistency([{ node: 'a', hash: null }]).status, 'fail');
  });

  it('judges against a reference hash and names the node that changed', () => {
    const r = assessConsistency(
      [
        { node: 'a', hash: h('1') },
        { node: 'b', hash: h('2') },
      ],
      0.95,
      h('1'),
    );
    assert.equal(r.status, 'fail');
    assert.deepEqual(
      r.divergent.map((d) => d.node),
      ['b'],
    );
    assert.match(r.message, /differing: b/);
  });

  it('honours the threshold it is given', () => {
    const hashes = [
      { node: 'a', hash: h('1') },
      { node: 'b', hash: h('1') },
      { node: 'c', hash: h('1') },
      { node: 'd', hash: h('2') },
    ];
    assert.equal(assessConsistency(hashes, 0.7).status, 'pass');
    assert.equal(assessConsistency(hashes, 0.95).status, 'warn');
  });
});

describe('assessConsistency against a plan (train check)', () => {
  it('names the changed node without claiming its work was redistributed: the plan is unchanged', () => {
    const r = assessConsistency(
      [
        { node: 'a', hash: 'h1' },
        { node: 'b', hash: 'h1' },
        { node: 'c', hash: 'h2' },
      ],
      0.95,
      'h1',
    );
    assert.equal(r.status, 'warn');
    assert.doesNotMatch(r.message, /redistributed/);
    assert.match(r.message, /c: script changed since the plan, which still gives them work/);
    assert.match(r.message, /re-plan/);
  });
});
