/**
 * `--trace FILE`: the whole run in one file (run id, decomposition request and reply, each agent's
 * requests, replies, tool calls and results, the combine input and the final answer), never
 * rotated mid-run, a new file per run unless --trace-append, secrets redacted.
 */
import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createTraceSink } from '../../src/agents/trace.ts';
import { type FakeReply, type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';
import { runMain } from '../helpers/run-main.ts';

const KEY = 'sk-trace-test-0123456789abcdefghijkl';
const N = 8;
const SUBS = Array.from({ length: N }, (_, i) => `Trace angle number ${i + 1}?`);

type Line = Record<string, unknown> & { type: string; runId: string; seq: number };

function kind(req: RecordedRequest): 'decompose' | 'combine' | number {
  const text = JSON.stringify(req.body);
  if (text.includes('orchestrator')) return 'decompose';
  if (text.includes('research agents each investigated')) return 'combine';
  return SUBS.findIndex((s) => text.includes(s));
}

/** Each agent: a calculate call, then an answer of `answerBytes` (big ones would have rotated the old trace). */
function script(answerBytes: number) {
  return (req: RecordedRequest): FakeReply => {
    const k = kind(req);
    if (k === 'decompose') return { content: `Sure:\n${JSON.stringify(SUBS)}` };
    if (k === 'combine') return { content: `FINAL ANSWER (key ${KEY} echoed by a bad model)` };
    const body = req.body as { messages: Array<{ role: string }> };
    if (!body.messages.some((m) => m.role === 'tool')) {
      return { toolCalls: [{ name: 'calculate', arguments: { expression: `6*${k + 1}` } }] };
    }
    return { content: `agent ${k + 1} says ${'z'.repeat(answerBytes)} done` };
  };
}

async function readTrace(path: string): Promise<Line[]> {
  const text = await readFile(path, 'utf8');
  return text
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
}

describe('--trace', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'marshal-trace-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function heavy(trace: string, answerBytes: number, extra: string[] = []) {
    const server = await startFakeOpenAIServer(script(answerBytes));
    try {
      const r = await runMain(
        [
          'heavy',
          '--base-url',
          server.url,
          '--api-key-env',
          'TRACE_KEY',
          '-n',
          String(N),
          '--trace',
          trace,
          ...extra,
          'Q?',
        ],
        { env: { NO_COLOR: '1', TRACE_KEY: KEY }, cwd: dir },
      );
      assert.equal(r.code, 0, r.stderr);
      return r;
    } finally {
      await server.close();
    }
  }

  it('an 8-agent run with 12 MB of answers: one file, every step, from trace_start to the answer', async () => {
    const path = join(dir, 'big.jsonl');
    await heavy(path, 1_500_000);
    const lines = await readTrace(path);
    const first = lines[0]!;
    assert.equal(first.type, 'trace_start', 'the start of the run is still there (no rotation)');
    const runId = first.runId;
    assert.match(runId, /^[0-9a-f-]{36}$/);
    assert.ok(lines.every((l) => l.runId === runId));
    assert.deepEqual(
      lines.map((l) => l.seq),
      lines.map((_, i) => i),
    );
    const of = (type: string, scope?: string) =>
      lines.filter((l) => l.type === type && (scope === undefined || l.scope === scope));
    // The decomposition request and its reply.
    assert.equal(of('llm_request', 'decompose').length, 1);
    const decomposeReply = of('llm_response', 'decompose')[0]!.reply as { content: string };
    assert.match(decomposeReply.content, /Trace angle number 8/);
    // Each agent's steps.
    for (let i = 1; i <= N; i++) {
      const id = `agent-${i}`;
      assert.equal(of('llm_request', id).length, 2, id);
      const replies = of('llm_response', id).map(
        (l) => l.reply as { content: string | null; toolCalls: unknown[] },
      );
      assert.equal(replies[0]!.toolCalls.length, 1);
      assert.match(replies[1]!.content ?? '', new RegExp(`agent ${i} says z+ done`));
      const call = lines.find((l) => l.type === 'tool_call' && l.agentId === id)!;
      assert.equal(call.arguments, JSON.stringify({ expression: `6*${i}` }));
      const result = lines.find((l) => l.type === 'tool_result' && l.agentId === id)!;
      assert.match(String(result.content), new RegExp(String(6 * i)));
    }
    // The combine input, the combining call and the final answer.
    const combineStart = of('combine_start')[0]!;
    assert.equal((combineStart.answers as unknown[]).length, N);
    assert.equal(of('llm_request', 'combine').length, 1);
    const done = of('run_done')[0]!;
    assert.match(String(done.answer), /^FINAL ANSWER/);
    // Secrets redacted everywhere.
    const text = await readFile(path, 'utf8');
    assert.ok(!text.includes(KEY), 'the API key never reaches the trace');
    const { mode } = await lstat(path);
    assert.equal(mode & 0o077, 0, 'private to the user');
  });

  it('a second run starts a new file; --trace-append adds to it', async () => {
    const path = join(dir, 'runs.jsonl');
    await heavy(path, 10);
    const one = await readTrace(path);
    await heavy(path, 10);
    const two = await readTrace(path);
    assert.notEqual(two[0]!.runId, one[0]!.runId);
    assert.equal(new Set(two.map((l) => l.runId)).size, 1, 'only the second run is left');
    await heavy(path, 10, ['--trace-append']);
    const three = await readTrace(path);
    const ids = [...new Set(three.map((l) => l.runId))];
    assert.deepEqual(ids.slice(0, 1), [two[0]!.runId]);
    assert.equal(ids.length, 2);
    assert.equal(three.filter((l) => l.type === 'trace_start').length, 2);
  });

  it('a new trace replaces the file by rename: a symlink at the path is replaced, not followed', async () => {
    const target = join(dir, 'elsewhere.txt');
    await writeFile(target, 'precious');
    const path = join(dir, 'link.jsonl');
    await symlink(target, path);
    const sink = createTraceSink(path, { runId: 'r1' });
    sink.onEvent({ type: 'decompose_start', at: 1 });
    await sink.close();
    assert.equal(await readFile(target, 'utf8'), 'precious');
    assert.equal((await lstat(path)).isFile(), true);
    const lines = await readTrace(path);
    assert.deepEqual(
      lines.map((l) => [l.type, l.runId, l.seq]),
      [
        ['trace_start', 'r1', 0],
        ['decompose_start', 'r1', 1],
      ],
    );
  });
});
