/**
 * `marshal serve` (the built CLI, a real process) with the official `openai` SDK as the client and
 * the fake server as the upstream: a completion, a streamed one, models.list(), a wrong token,
 * a cancelled stream (the upstream sees no further call), three concurrent runs and a fourth
 * refused with 429, and the OpenAI error shapes of bad requests.
 */
import assert from 'node:assert/strict';
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { deadline } from '../../src/core/deadline.ts';
import {
  type FakeOpenAIServer,
  type FakeReply,
  type RecordedRequest,
  startFakeOpenAIServer,
} from '../../src/testing/index.ts';
import { BIN } from '../helpers/run-cli.ts';

const TOKEN = 'test-token-0123456789';
const SUBS = ['Physics of scattering?', 'Why not violet?'];
const ANSWER = 'Blue light scatters most (Rayleigh); violet is absorbed high up and our eyes favour blue.';

const text = (req: RecordedRequest) => JSON.stringify(req.body);
function kind(req: RecordedRequest): 'decompose' | 'combine' | 'agent' {
  const t = text(req);
  if (t.includes('orchestrator')) return 'decompose';
  if (t.includes('research agents each investigated')) return 'combine';
  return 'agent';
}

/** Resolves with the first match of `pattern` in what `child` writes on stderr, within `ms`. */
async function waitForStderr(
  child: ChildProcessWithoutNullStreams,
  pattern: RegExp,
  seen: { text: string },
  ms = 30_000,
) {
  const d = deadline(ms, [], `stderr matching ${pattern}`);
  try {
    while (!pattern.test(seen.text)) {
      if (child.exitCode !== null) throw new Error(`marshal serve exited ${child.exitCode}: ${seen.text}`);
      await Promise.race([once(child.stderr, 'data'), once(d.signal, 'abort')]);
      if (d.signal.aborted) throw new Error(`timed out waiting for ${pattern}; stderr: ${seen.text}`);
    }
    return pattern.exec(seen.text)!;
  } finally {
    d.clear();
  }
}

interface Served {
  child: ChildProcessWithoutNullStreams;
  url: string;
  stderr: { text: string };
  stop(): Promise<number | null>;
}

async function serve(
  upstream: string,
  extraArgs: string[],
  env: Record<string, string> = { MARSHAL_SERVE_TOKEN: TOKEN },
): Promise<Served> {
  const child = spawn(
    process.execPath,
    [BIN, 'serve', '--port', '0', '--base-url', upstream, '--model', 'fake/model', '-n', '2', ...extraArgs],
    { env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', ...env }, stdio: 'pipe' },
  );
  const stderr = { text: '' };
  child.stderr.on('data', (c: Buffer) => {
    stderr.text += c.toString();
  });
  child.stdout.resume();
  const m = await waitForStderr(child, /listening on (http:\/\/127\.0\.0\.1:\d+\/v1)\n/, stderr);
  return {
    child,
    url: m[1]!,
    stderr,
    stop: async () => {
      if (child.exitCode !== null) return child.exitCode;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

describe('marshal serve with the openai SDK', { timeout: 120_000 }, () => {
  let upstream: FakeOpenAIServer;
  let served: Served;
  let client: OpenAI;
  // Concurrency barrier of the CONCURRENT-* questions: no agent answers before all 6 agents asked.
  let concurrentAgents = 0;
  let releaseConcurrent!: () => void;
  const allConcurrent = new Promise<void>((r) => {
    releaseConcurrent = r;
  });
  let sawAllConcurrent!: () => void;
  const allConcurrentArrived = new Promise<void>((r) => {
    sawAllConcurrent = r;
  });

  before(async () => {
    upstream = await startFakeOpenAIServer(async (req): Promise<FakeReply> => {
      const k = kind(req);
      const t = text(req);
      if (k === 'decompose')
        return { content: JSON.stringify(SUBS), usage: { prompt_tokens: 10, completion_tokens: 5 } };
      if (k === 'combine') {
        return {
          content: ANSWER,
          usage: { prompt_tokens: 40, completion_tokens: 20, cost: 0.002 },
          stream: { pieceSize: 6, comments: true },
        };
      }
      if (t.includes('CANCEL-ME')) return { hang: true };
      if (t.includes('CONCURRENT-')) {
        if (++concurrentAgents === 6) sawAllConcurrent();
        await allConcurrent;
      }
      return {
        content: t.includes('violet') ? 'Violet is absorbed.' : 'Rayleigh scattering.',
        usage: { prompt_tokens: 20, completion_tokens: 10 },
      };
    });
    served = await serve(upstream.url, ['--max-concurrent-runs', '3']);
    client = new OpenAI({ baseURL: served.url, apiKey: TOKEN, maxRetries: 0 });
  });
  after(async () => {
    releaseConcurrent();
    const code = await served?.stop();
    assert.equal(code, 130, served?.stderr.text);
    await upstream?.close();
  });

  it('models.list() lists marshal-heavy and marshal-ask', async () => {
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids, ['marshal-heavy', 'marshal-ask']);
    assert.equal((await client.models.retrieve('marshal-ask')).owned_by, 'marshal');
  });

  it('a non-streaming completion: the heavy answer, usage totalled over every upstream call, marshal details', async () => {
    const before = upstream.chatRequests().length;
    const completion = await client.chat.completions.create({
      model: 'marshal-heavy',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Why is the sky blue?' },
      ],
      // marshal's extension field rides along in the body.
      ...({ marshal: { agents: 2, strategy: 'synthesize' } } as object),
    });
    assert.equal(completion.object, 'chat.completion');
    assert.equal(completion.model, 'marshal-heavy');
    assert.equal(completion.choices[0]!.message.content, ANSWER);
    assert.equal(completion.choices[0]!.finish_reason, 'stop');
    const calls = upstream.chatRequests().slice(before);
    assert.deepEqual(calls.map(kind).sort(), ['agent', 'agent', 'combine', 'decompose']);
    // 10+5 (decompose) + 2 x (20+10) (agents) + 40+20 (combine)
    assert.deepEqual(
      {
        p: completion.usage?.prompt_tokens,
        c: completion.usage?.completion_tokens,
        t: completion.usage?.total_tokens,
      },
      { p: 90, c: 45, t: 135 },
    );
    const details = (
      completion as unknown as { marshal: { subQuestions: string[]; agents: Array<{ status: string }> } }
    ).marshal;
    assert.deepEqual(details.subQuestions, SUBS);
    assert.deepEqual(
      details.agents.map((a) => a.status),
      ['ok', 'ok'],
    );
    // The earlier (system) message reached the agents as context, the last user message as the question.
    const agentBody = text(calls.find((c) => kind(c) === 'agent')!);
    assert.match(agentBody, /Be brief\./);
    assert.match(agentBody, /Why is the sky blue\?/);
  });

  it('a streaming completion: the combine step streams in chunks, progress only in the marshal field, usage, [DONE]', async () => {
    const stream = await client.chat.completions.create({
      model: 'marshal-heavy',
      messages: [{ role: 'user', content: 'Why is the sky blue?' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = '';
    let contentChunks = 0;
    let progress = 0;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null | undefined;
    for await (const chunk of stream) {
      assert.equal(chunk.object, 'chat.completion.chunk');
      const choice = chunk.choices[0];
      if (chunk.usage) usage = chunk.usage;
      if (!choice) continue;
      if (choice.finish_reason) finish = choice.finish_reason;
      const ext = (chunk as unknown as { marshal?: { progress?: unknown } }).marshal;
      if (ext?.progress) {
        progress++;
        assert.equal(choice.delta.content, undefined, 'progress chunks carry no content');
      }
      if (choice.delta.content) {
        content += choice.delta.content;
        contentChunks++;
      }
    }
    assert.equal(content, ANSWER);
    assert.ok(contentChunks >= ANSWER.length / 6 - 1, `the answer came in pieces (${contentChunks})`);
    assert.ok(progress >= 4, `progress chunks: ${progress}`);
    assert.equal(finish, 'stop');
    assert.equal(usage?.total_tokens, 135);
  });

  it('a wrong token is a 401 the SDK reports as AuthenticationError', async () => {
    const wrong = new OpenAI({ baseURL: served.url, apiKey: 'not-the-token', maxRetries: 0 });
    await assert.rejects(wrong.models.list(), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, String(err));
      assert.equal(err.status, 401);
      return true;
    });
    await assert.rejects(
      wrong.chat.completions.create({ model: 'marshal-heavy', messages: [{ role: 'user', content: 'q' }] }),
      OpenAI.AuthenticationError,
    );
  });

  it('a cancelled stream cancels its run: the agents are stopped and the upstream sees no further call', async () => {
    const before = upstream.chatRequests().length;
    const requestsBefore = upstream.requests.length;
    const heavyLines = () =>
      (served.stderr.text.match(/POST \/v1\/chat\/completions marshal-heavy /g) ?? []).length;
    const linesBefore = heavyLines();
    const stream = await client.chat.completions.create({
      model: 'marshal-heavy',
      messages: [{ role: 'user', content: 'CANCEL-ME: why is the sky blue?' }],
      stream: true,
    });
    let started = 0;
    for await (const chunk of stream) {
      const p = (chunk as unknown as { marshal?: { progress?: { type: string } } }).marshal?.progress;
      if (p?.type === 'agent_start' && ++started === 2) break; // leaving the loop aborts the request
    }
    // Both agents' upstream requests (decomposition + 2 agents) have arrived and were cancelled for real ...
    await upstream.waitForRequest(requestsBefore + 2);
    const agents = upstream
      .chatRequests()
      .slice(before)
      .filter((r) => kind(r) === 'agent');
    assert.equal(agents.length, 2);
    for (const r of agents) await upstream.waitForClientClose(r.index);
    // ... and once the run has ended (its log line), nothing more was asked upstream (no combine call).
    const ended = new RegExp(
      `(?:POST /v1/chat/completions marshal-heavy [^\\n]*\\n[^]*){${linesBefore + 1}}`,
    );
    await waitForStderr(served.child, ended, served.stderr);
    assert.equal(heavyLines(), linesBefore + 1);
    assert.deepEqual(upstream.chatRequests().slice(before).map(kind).sort(), ['agent', 'agent', 'decompose']);
  });

  it('three concurrent runs run at once; a fourth gets 429 with Retry-After (RateLimitError)', async () => {
    const ask = (i: number) =>
      client.chat.completions.create({
        model: 'marshal-heavy',
        messages: [{ role: 'user', content: `CONCURRENT-${i} why?` }],
      });
    const three = [ask(1), ask(2), ask(3)];
    // All six agents of the three runs are waiting upstream at the same time.
    await allConcurrentArrived;
    await assert.rejects(ask(4), (err: unknown) => {
      assert.ok(err instanceof OpenAI.RateLimitError, String(err));
      assert.equal(err.headers?.get('retry-after'), '1');
      return true;
    });
    releaseConcurrent();
    const done = await Promise.all(three);
    for (const c of done) assert.equal(c.choices[0]!.message.content, ANSWER);
  });

  it('bad requests get the OpenAI error shape: unknown model 404, bad marshal options 400, too large 413', async () => {
    const post = (body: unknown, raw?: string) =>
      fetch(`${served.url}/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: raw ?? JSON.stringify(body),
      });
    const unknown = await post({ model: 'gpt-4o', messages: [{ role: 'user', content: 'q' }] });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'model_not_found');
    const bad = await post({
      model: 'marshal-heavy',
      messages: [{ role: 'user', content: 'q' }],
      marshal: { agents: 0 },
    });
    assert.equal(bad.status, 400);
    const err = ((await bad.json()) as { error: { param: string; message: string; type: string } }).error;
    assert.equal(err.param, 'marshal.agents');
    assert.equal(err.type, 'invalid_request_error');
    assert.match(err.message, /marshal\.agents: expected an integer from 1 to 64, got 0/);
    const strategy = await post({
      model: 'marshal-heavy',
      messages: [{ role: 'user', content: 'q' }],
      marshal: { strategy: 'magic' },
    });
    assert.equal(strategy.status, 400);
    const noUser = await post({ model: 'marshal-ask', messages: [{ role: 'system', content: 'only' }] });
    assert.equal(noUser.status, 400);
    const notJson = await post(undefined, '{"model": ');
    assert.equal(notJson.status, 400);
    const huge = await post({
      model: 'marshal-heavy',
      messages: [{ role: 'user', content: 'x'.repeat(1_100_000) }],
    });
    assert.equal(huge.status, 413);
    const get = await fetch(`${served.url}/chat/completions`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(get.status, 405);
  });
});

describe('marshal serve without MARSHAL_SERVE_TOKEN', { timeout: 60_000 }, () => {
  it('generates a token, prints it once on stderr, and requires it', async () => {
    const upstream = await startFakeOpenAIServer([{ content: 'one agent answer' }]);
    const served = await serve(upstream.url, [], {});
    try {
      const m = /token \(generated; set MARSHAL_SERVE_TOKEN to choose one\): (\S+)\n/.exec(
        served.stderr.text,
      );
      assert.ok(m, served.stderr.text);
      assert.equal(served.stderr.text.split(m[1]!).length - 1, 1, 'printed once');
      const client = new OpenAI({ baseURL: served.url, apiKey: m[1]!, maxRetries: 0 });
      const c = await client.chat.completions.create({
        model: 'marshal-ask',
        messages: [{ role: 'user', content: 'q' }],
      });
      assert.equal(c.choices[0]!.message.content, 'one agent answer');
      const none = await fetch(`${served.url}/models`);
      assert.equal(none.status, 401);
    } finally {
      assert.equal(await served.stop(), 130);
      await upstream.close();
    }
  });
});
