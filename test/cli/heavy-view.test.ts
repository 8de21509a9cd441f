import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { AgentOutcome } from '../../src/agents/agent-outcome.ts';
import type { HeavyEvent } from '../../src/agents/events.ts';
import { styler } from '../../src/cli/io.ts';
import { formatEventLine } from '../../src/cli/render/event-line.ts';
import { createHeavyView, formatElapsed, headerName, renderView } from '../../src/cli/render/heavy-view.ts';
import { initialViewState, reduceView } from '../../src/cli/render/heavy-view-state.ts';

const usage = { promptTokens: 100, completionTokens: 50, costUsd: null };
const outcome = (id: string, status: AgentOutcome['status']): AgentOutcome => ({
  id,
  question: 'q',
  status,
  answer: status === 'ok' ? 'a' : null,
  toolCalls: [],
  usage,
  durationMs: 5,
  error: status === 'ok' ? null : { code: 'E_TIMEOUT', message: 'timed out' },
});

const EVENTS: HeavyEvent[] = [
  {
    type: 'run_start',
    question: 'Q',
    model: 'moonshotai/kimi-k2-instruct',
    agents: 2,
    strategy: 'synthesize',
    at: 0,
  },
  { type: 'decompose_start', at: 1 },
  {
    type: 'decompose_done',
    subQuestions: ['First sub-question?', 'Second\x1b[31m sub?'],
    fallback: false,
    at: 2,
  },
  { type: 'agent_start', agentId: 'agent-1', question: 'First sub-question?', at: 1000 },
  { type: 'agent_start', agentId: 'agent-2', question: 'Second\x1b[31m sub?', at: 1000 },
  { type: 'agent_step', agentId: 'agent-1', iteration: 2, at: 1500 },
  { type: 'llm_response', scope: 'agent-1', usage, finishReason: 'stop', durationMs: 3, at: 1600 },
  { type: 'tool_call', agentId: 'agent-2', name: 'read_file', arguments: '{"path":"x"}', at: 1700 },
  { type: 'agent_done', agentId: 'agent-1', outcome: outcome('agent-1', 'ok'), at: 3000 },
];

describe('live view', () => {
  it('header follows Make It Heavy; elapsed is NS / NMNNS / NHNNM', () => {
    assert.equal(headerName('moonshotai/kimi-k2-instruct'), 'KIMI-K2-INSTRUCT');
    assert.equal(headerName('gpt-4.1-mini-2025-x'), 'GPT-4.1-MINI');
    assert.deepEqual(
      [formatElapsed(12_400), formatElapsed(185_000), formatElapsed(3_720_000)],
      ['12S', '3M05S', '1H02M'],
    );
  });

  it('shows one row per agent with state, activity, tokens, elapsed and the sanitised sub-question', () => {
    const state = initialViewState(0);
    for (const e of EVENTS) reduceView(state, e);
    const text = renderView(state, 5000, 120, styler(false));
    const lines = text.split('\n');
    assert.match(lines[0]!, /^KIMI-K2-INSTRUCT HEAVY {2}● RUNNING • 5S {2}synthesize · 150 tokens/);
    assert.match(lines[2]!, /^AGENT 01 {2}✓ ok .* 150 tok +2S {2}First sub-question\?/);
    assert.match(lines[3]!, /^AGENT 02 {2}● running +tool read_file .* 0 tok +4S {2}Second\\e\[31m sub\?/);
    assert.ok(!text.includes('\x1b'), 'no raw escape from model text reaches the terminal');
    for (const l of lines) assert.ok(l.length <= 120, l);
  });

  it('redraws in place on a TTY stream and ends with a final frame', () => {
    const stream = Object.assign(new PassThrough(), { isTTY: true, columns: 100, rows: 40 });
    let written = '';
    stream.on('data', (d) => {
      written += d;
    });
    const view = createHeavyView({
      stream,
      live: true,
      style: styler(false),
      columns: 100,
      intervalMs: 1_000_000,
    });
    for (const e of EVENTS) view.onEvent(e);
    view.stop();
    view.stop();
    assert.match(written, /AGENT 02/);
    assert.ok(!written.includes('\x1b[2J'), 'never clears the screen');
  });

  it('without a TTY: one sanitised line per event, llm request bodies left out', () => {
    const stream = new PassThrough();
    const view = createHeavyView({ stream, live: false, style: styler(false) });
    for (const e of EVENTS) view.onEvent(e);
    view.onEvent({ type: 'llm_request', scope: 'agent-1', model: 'm', messages: [], at: 0 });
    const out = String(stream.read());
    const lines = out.trim().split('\n');
    assert.equal(lines.length, EVENTS.length);
    assert.ok(lines.includes('agent-2: tool read_file {"path":"x"}'));
    assert.ok(!out.includes('\x1b'));
    assert.match(
      formatEventLine({
        type: 'agent_done',
        agentId: 'agent-3',
        outcome: outcome('agent-3', 'timeout'),
        at: 0,
      }) ?? '',
      /agent-3: timeout: timed out/,
    );
    assert.match(
      formatEventLine({
        type: 'tool_call',
        agentId: 'a',
        name: 'x',
        arguments: '{"k":"Bearer abcdefghijklmnop"}',
        at: 0,
      }) ?? '',
      /Bearer \[REDACTED\]/,
    );
  });
});
