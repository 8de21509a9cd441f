/**
 * The final answer of `heavy` and `ask` streaming to stdout (`--stream` when piped, or a terminal),
 * against the fake server streaming SSE, through main() in-process.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type FakeScript,
  type FakeStreamShape,
  type RecordedRequest,
  startFakeOpenAIServer,
} from '../../src/testing/index.ts';
import { runMain } from '../helpers/run-main.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const SUBS = ['Physics of scattering?', 'Why not violet?'];
const ANSWER = 'The sky is blue because air scatters short wavelengths more (Rayleigh).';

function who(req: RecordedRequest): 'decompose' | 'combine' | 'agent' {
  const t = JSON.stringify(req.body);
  if (t.includes('orchestrator')) return 'decompose';
  if (t.includes('research agents each investigated')) return 'combine';
  return 'agent';
}

async function run(script: FakeScript, args: string[], tty = false) {
  const server = await startFakeOpenAIServer(script);
  try {
    const r = await runMain([args[0]!, '--base-url', server.url, ...args.slice(1)], {
      cwd: ROOT,
      env: { NO_COLOR: '1' },
      ...(tty ? { isTTY: { stdin: false, stdout: true, stderr: false } } : {}),
    });
    return { ...r, requests: server.chatRequests() };
  } finally {
    await server.close();
  }
}

const heavyScript =
  (combine: { stream?: FakeStreamShape } = {}): FakeScript =>
  (req) => {
    const k = who(req);
    if (k === 'decompose') return { content: JSON.stringify(SUBS) };
    if (k === 'combine')
      return {
        content: `<think>weighing both</think>${ANSWER}`,
        stream: { comments: true, pieceSize: 3 },
        ...combine,
      };
    return { content: JSON.stringify(req.body).includes('violet') ? 'Violet is absorbed.' : 'Rayleigh.' };
  };

describe('streaming the final answer (CLI)', { timeout: 60_000 }, () => {
  it('heavy --stream (piped): every call streams; the answer, without <think>, once on stdout', async () => {
    const r = await run(heavyScript(), ['heavy', '-n', '2', '--stream', 'Why is the sky blue?']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${ANSWER}\n`);
    for (const q of r.requests) assert.equal((q.body as { stream?: boolean }).stream, true, who(q));
  });

  it('heavy streams on a terminal by default; pieces reach stdout before the reply ends (a broken stream leaves its prefix, then the fallback)', async () => {
    const r = await run(
      heavyScript({
        stream: { errorAfterChunks: 8, pieceSize: 5, error: { code: 502, message: 'upstream died' } },
      }),
      ['heavy', '-n', '2', 'Why is the sky blue?'],
      true,
    );
    assert.equal(r.code, 0, r.stderr);
    // The first pieces were written as they came (the reply never completed) ...
    const [streamed, ...rest] = r.stdout.split('\n');
    assert.ok(streamed!.length > 0 && ANSWER.startsWith(streamed!), JSON.stringify(r.stdout));
    assert.ok(streamed!.length < ANSWER.length);
    // ... then the synthesis failed (not retried mid-stream) and the concatenated answers follow.
    const after = rest.join('\n');
    assert.match(after, /Rayleigh\./);
    assert.match(after, /Violet is absorbed\./);
    assert.match(r.stderr, /synthesize failed/);
    assert.equal(r.requests.filter((q) => who(q) === 'combine').length, 1);
  });

  it('piped without --stream, and with --json: nothing streams (plain JSON requests)', async () => {
    const plain = await run(heavyScript(), ['heavy', '-n', '2', 'Why is the sky blue?']);
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, `${ANSWER}\n`);
    for (const q of plain.requests) assert.equal((q.body as { stream?: boolean }).stream, undefined);
    const json = await run(heavyScript(), ['heavy', '-n', '2', '--json', 'Why is the sky blue?'], true);
    assert.equal(json.code, 0, json.stderr);
    assert.equal(JSON.parse(json.stdout).answer, ANSWER);
    for (const q of json.requests) assert.equal((q.body as { stream?: boolean }).stream, undefined);
  });

  it('ask --stream: the answer streams once; a mark_task_complete message differing from the text is printed after it', async () => {
    const one = await run(
      [{ content: ANSWER, stream: { splitWritesAt: 2 } }],
      ['ask', '--stream', 'Why is the sky blue?'],
    );
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, `${ANSWER}\n`);
    const marked = await run(
      [
        {
          content: 'Let me wrap up.',
          toolCalls: [
            { name: 'mark_task_complete', arguments: { task_summary: 's', completion_message: ANSWER } },
          ],
        },
      ],
      ['ask', '--stream', 'Why is the sky blue?'],
    );
    assert.equal(marked.code, 0, marked.stderr);
    assert.equal(marked.stdout, `Let me wrap up.\n${ANSWER}\n`);
  });
});

describe('live view: per-agent progress from streamed pieces', () => {
  it('shows each agent writing with its piece count, and the usage when the reply ends', async () => {
    const { initialViewState, reduceView } = await import('../../src/cli/render/heavy-view-state.ts');
    const s = initialViewState(0);
    reduceView(s, { type: 'run_start', question: 'q', model: 'm', agents: 2, strategy: 'synthesize', at: 0 });
    reduceView(s, { type: 'llm_delta', scope: 'agent-2', reasoning: 'hm', chunks: 1, at: 1 });
    assert.equal(s.agents[1]!.activity, 'reasoning ~1 tok');
    reduceView(s, { type: 'llm_delta', scope: 'agent-2', content: 'Ray', chunks: 7, at: 2 });
    assert.equal(s.agents[1]!.activity, 'writing ~7 tok');
    assert.equal(s.agents[0]!.activity, '');
    reduceView(s, {
      type: 'llm_response',
      scope: 'agent-2',
      usage: { promptTokens: 3, completionTokens: 7, costUsd: null },
      finishReason: 'stop',
      durationMs: 1,
      at: 3,
    });
    assert.equal(s.agents[1]!.tokens, 10);
  });
});
