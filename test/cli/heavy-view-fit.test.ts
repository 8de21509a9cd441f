import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { AgentOutcome } from '../../src/agents/agent-outcome.ts';
import type { HeavyEvent } from '../../src/agents/events.ts';
import { styler } from '../../src/cli/io.ts';
import { createHeavyView, renderView } from '../../src/cli/render/heavy-view.ts';
import { initialViewState, reduceView } from '../../src/cli/render/heavy-view-state.ts';
import { displayWidth, fitWidth } from '../../src/cli/render/text-width.ts';

const usage = { promptTokens: 10, completionTokens: 5, costUsd: null };
const outcome = (id: string, status: AgentOutcome['status']): AgentOutcome => ({
  id,
  question: 'q',
  status,
  answer: status === 'ok' ? 'a' : null,
  toolCalls: [],
  usage,
  durationMs: 5,
  error: status === 'ok' ? null : { code: 'E_LLM_HTTP', message: 'HTTP 500' },
});

/** 40 agents: 1-20 ok, 21-24 failed, 25-32 running, 33-40 queued; CJK and emoji sub-questions. */
function bigRun(): HeavyEvent[] {
  const n = 40;
  const subs = Array.from(
    { length: n },
    (_, i) => `${i + 1}: 東京の人口はどのくらいですか 🙂🇯🇵 and a long English tail`,
  );
  const events: HeavyEvent[] = [
    { type: 'run_start', question: 'Q', model: 'org/model-x', agents: n, strategy: 'synthesize', at: 0 },
    { type: 'decompose_start', at: 1 },
    { type: 'decompose_done', subQuestions: subs, fallback: false, at: 2 },
  ];
  for (let i = 1; i <= 32; i++)
    events.push({ type: 'agent_start', agentId: `agent-${i}`, question: subs[i - 1]!, at: 10 });
  for (let i = 1; i <= 24; i++) {
    events.push({
      type: 'agent_done',
      agentId: `agent-${i}`,
      outcome: outcome(`agent-${i}`, i <= 20 ? 'ok' : 'failed'),
      at: 20,
    });
  }
  return events;
}

function render(events: HeavyEvent[], width: number, height?: number): string[] {
  const state = initialViewState(0);
  for (const e of events) reduceView(state, e);
  return renderView(state, 5000, width, styler(false), height).split('\n');
}

describe('live view fits the terminal', () => {
  it('more agents than rows: header, failed then running agents, and a summary line, within the rows', () => {
    const lines = render(bigRun(), 79, 16);
    assert.ok(lines.length <= 15, `${lines.length} lines for a 16-row terminal`);
    assert.match(lines[0]!, /^MODEL-X HEAVY {2}● RUNNING/);
    const rows = lines.filter((l) => l.startsWith('AGENT '));
    const failed = rows.filter((l) => l.includes('failed'));
    assert.equal(failed.length, 4, 'every failed agent is shown');
    assert.ok(
      rows.some((l) => l.includes('running')),
      'running agents fill the rest',
    );
    assert.ok(!rows.some((l) => /✓ ok/.test(l)), 'finished agents give way');
    assert.equal(
      lines.at(-1),
      `40 agents · 20 ok · 8 running · 8 queued · 4 failed · ${40 - rows.length} more not shown`,
    );
  });

  it('enough rows: every agent, no summary line', () => {
    const lines = render(bigRun(), 79, 60);
    assert.equal(lines.filter((l) => l.startsWith('AGENT ')).length, 40);
    assert.ok(!lines.at(-1)!.startsWith('40 agents'));
  });

  for (const width of [79, 60, 45]) {
    it(`CJK and emoji are measured as two columns: no line is wider than ${width}`, () => {
      const lines = render(bigRun(), width, 60);
      for (const l of lines) assert.ok(displayWidth(l) <= width, `${displayWidth(l)} > ${width}: ${l}`);
      const row = lines.find((l) => l.startsWith('AGENT 01'))!;
      assert.ok(displayWidth(row) >= width - 2, 'the row uses the width it has');
    });
  }

  it('displayWidth and fitWidth by grapheme', () => {
    assert.equal(displayWidth('abc'), 3);
    assert.equal(displayWidth('日本'), 4);
    assert.equal(displayWidth('ｶﾀｶﾅ'), 4); // halfwidth katakana: narrow
    assert.equal(displayWidth('ＡＢ'), 4); // fullwidth latin: wide
    assert.equal(displayWidth('🙂'), 2);
    assert.equal(displayWidth('👍🏽'), 2);
    assert.equal(displayWidth('👨‍👩‍👧'), 2);
    assert.equal(displayWidth('🇯🇵'), 2);
    assert.equal(displayWidth('❤️'), 2);
    assert.equal(displayWidth('❤'), 1);
    assert.equal(displayWidth('e\u0301'), 1);
    assert.equal(displayWidth('\x1b[31mred\x1b[0m'), 3);
    assert.equal(fitWidth('日本語', 4), '日… ');
    assert.equal(displayWidth(fitWidth('日本語', 4)), 4);
    assert.equal(fitWidth('ab', 4), 'ab  ');
    assert.equal(fitWidth('👨‍👩‍👧👨‍👩‍👧', 3), '👨‍👩‍👧…');
  });

  it('after Ctrl-C the view says CANCELLED, not DONE', () => {
    const stream = new PassThrough();
    let out = '';
    stream.on('data', (c: Buffer) => {
      out += c.toString();
    });
    const ac = new AbortController();
    const view = createHeavyView({
      stream,
      live: true,
      style: styler(false),
      columns: 80,
      signal: ac.signal,
      intervalMs: 60_000,
    });
    for (const e of bigRun().slice(0, 5)) view.onEvent(e);
    ac.abort();
    view.onEvent({
      type: 'agent_done',
      agentId: 'agent-2',
      outcome: outcome('agent-2', 'cancelled'),
      at: 30,
    });
    view.onEvent({ type: 'run_done', durationMs: 30, usage, at: 31 });
    view.stop();
    assert.match(out, /CANCELLED/);
    assert.doesNotMatch(out, /DONE/);
  });

  it('a run that ends normally says DONE', () => {
    const state = initialViewState(0);
    for (const e of bigRun()) reduceView(state, e);
    reduceView(state, { type: 'run_done', durationMs: 30, usage, at: 31 });
    assert.match(renderView(state, 40, 79, styler(false)), /● DONE/);
  });
});
