import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { resolveSettings, SETTINGS } from '../../src/agents/index.ts';
import { runRepl } from '../../src/cli/ask-repl.ts';
import { MAX_STDIN_QUESTION_BYTES, readQuestion } from '../../src/cli/read-question.ts';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';
import { runMain } from '../helpers/run-main.ts';

const env = { NO_COLOR: '1' };

/** main() in-process: these cases need no process of their own. */
function runCli(args: string[], options: { cwd: string; env: Record<string, string>; input?: string }) {
  return runMain(args, {
    cwd: options.cwd,
    env: options.env,
    ...(options.input === undefined ? {} : { stdinText: options.input }),
  });
}

describe('marshal ask (main() in-process)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'marshal-ask-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('answers one question with tools; --json prints the outcome', async () => {
    const server = await startFakeOpenAIServer([
      { toolCalls: [{ name: 'calculate', arguments: { expression: '2**10 + 3' } }] },
      { content: 'It is 1027.' },
    ]);
    try {
      const r = await runCli(['ask', '--base-url', server.url, '--json', 'What is 2**10 + 3?'], {
        cwd: dir,
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout) as Record<string, unknown>;
      assert.equal(out.answer, 'It is 1027.');
      assert.equal(out.status, 'ok');
      assert.deepEqual(out.toolCalls, [{ name: 'calculate', ok: true }]);
      assert.ok(JSON.stringify(server.chatRequests()[1]!.body).includes('1027'));
      const first = server.chatRequests()[0]!.body as { tools?: Array<{ function: { name: string } }> };
      assert.deepEqual(first.tools?.map((t) => t.function.name).sort(), [
        'calculate',
        'mark_task_complete',
        'read_file',
        'search_web',
      ]);
    } finally {
      await server.close();
    }
  });

  it('reads the question from piped stdin and prints the answer on stdout', async () => {
    const server = await startFakeOpenAIServer([{ content: 'Piped answer.' }]);
    try {
      const r = await runCli(['ask', '--base-url', server.url], {
        cwd: dir,
        env,
        input: 'Question from stdin?\n',
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'Piped answer.\n');
      assert.ok(JSON.stringify(server.chatRequests()[0]!.body).includes('Question from stdin?'));
    } finally {
      await server.close();
    }
  });

  it('empty stdin and no question is a usage error (exit 2)', async () => {
    const r = await runCli(['ask', '--base-url', 'http://127.0.0.1:9/v1'], { cwd: dir, env, input: '  \n' });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /no question/);
  });

  it('exit 3 when the agent produces no answer', async () => {
    const server = await startFakeOpenAIServer([{ content: null }]);
    try {
      const r = await runCli(['ask', '--base-url', server.url, 'q?'], { cwd: dir, env });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /failed/);
    } finally {
      await server.close();
    }
  });

  it('a 401 exits 2 with the key hint, after one request', async () => {
    const server = await startFakeOpenAIServer(() => ({ status: 401 }));
    try {
      const r = await runCli(['ask', '--base-url', server.url, 'q?'], { cwd: dir, env });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(server.chatRequests().length, 1);
      assert.match(r.stderr, /API key/);
    } finally {
      await server.close();
    }
  });
});

describe('ask: stdin cap and request timeout', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'marshal-ask-cap-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a question on stdin past 256 KiB is exit 2 with a clear message', async () => {
    assert.equal(MAX_STDIN_QUESTION_BYTES, 256 * 1024);
    const r = await runCli(['ask', '--base-url', 'http://127.0.0.1:9/v1'], {
      cwd: dir,
      env,
      input: 'y'.repeat(MAX_STDIN_QUESTION_BYTES + 1),
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /marshal ask: the question on stdin is larger than the 256 KiB limit/);
  });

  it('stops reading an endless stdin soon after the cap', async () => {
    let produced = 0;
    const chunk = Buffer.alloc(16 * 1024, 'z');
    const endless = new Readable({
      read() {
        produced += chunk.length;
        this.push(chunk);
      },
    });
    await assert.rejects(readQuestion(endless, 'ask', 64 * 1024), /larger than the 64 KiB limit/);
    // The stream's own read-ahead (its highWaterMark) is all that is read past the cap.
    assert.ok(produced <= 64 * 1024 + chunk.length + endless.readableHighWaterMark, `read ${produced} bytes`);
    assert.ok(endless.destroyed, 'the stream was closed');
  });

  it('requests have a default timeout of 120 s (provider.requestTimeout / --request-timeout change it)', () => {
    const none = { config: {}, path: undefined, trust: 'none' as const, ignored: [] };
    assert.equal(SETTINGS.requestTimeout.default, 120);
    assert.equal(resolveSettings({}, none, '/').requestTimeoutMs, 120_000);
    const configured = { ...none, config: { provider: { requestTimeout: 7 } } };
    assert.equal(resolveSettings({}, configured, '/').requestTimeoutMs, 7000);
    assert.equal(resolveSettings({ requestTimeoutS: 0.5 }, configured, '/').requestTimeoutMs, 500);
  });

  it('--request-timeout: a hung request is cancelled at the bound and retried', async () => {
    const server = await startFakeOpenAIServer([{ hang: true }, { content: 'second try' }]);
    try {
      const r = await runCli(['ask', '--base-url', server.url, '--request-timeout', '0.3', '--json', 'q?'], {
        cwd: dir,
        env,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { answer: string }).answer, 'second try');
      await server.waitForClientClose(0);
      assert.equal(server.chatRequests().length, 2);
      assert.match(r.stderr, /retry 1.*did not answer within 300 ms/);
    } finally {
      await server.close();
    }
  });

  it('provider.requestTimeout with retries 0: a hung request fails the agent (exit 3, E_LLM_NETWORK)', async () => {
    const server = await startFakeOpenAIServer(() => ({ hang: true }));
    try {
      await writeFile(join(dir, 'rt.yaml'), 'provider:\n  requestTimeout: 0.3\n  retries: 0\n');
      const r = await runCli(['ask', '-c', 'rt.yaml', '--base-url', server.url, '--json', 'q?'], {
        cwd: dir,
        env,
      });
      assert.equal(r.code, 3, r.stderr);
      const out = JSON.parse(r.stdout) as { status: string; error: { code: string; message: string } };
      assert.equal(out.status, 'failed');
      assert.equal(out.error.code, 'E_LLM_NETWORK');
      assert.match(out.error.message, /did not answer within 300 ms/);
      assert.equal(server.chatRequests().length, 1);
    } finally {
      await server.close();
    }
  });
});

describe('ask REPL', () => {
  function repl(answer: (q: string, signal: AbortSignal) => Promise<void>, signal?: AbortSignal) {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d) => {
      shown += d;
    });
    const done = runRepl({ input, output, terminal: true, answer, signal });
    return { input, done, shown: () => shown };
  }

  it('answers each line and leaves on quit, exit or bye', async () => {
    for (const word of ['quit', 'exit', 'bye', 'BYE']) {
      const asked: string[] = [];
      const { input, done } = repl(async (q) => {
        asked.push(q);
      });
      input.write('first?\n\nsecond?\n');
      input.write(`${word}\nnever asked\n`);
      assert.equal(await done, 2);
      assert.deepEqual(asked, ['first?', 'second?']);
    }
  });

  it('Ctrl-D (end of input) leaves', async () => {
    const { input, done } = repl(async () => {});
    input.write('one\n');
    input.end();
    assert.equal(await done, 1);
  });

  it('Ctrl-C cancels the current answer only; the REPL goes on', async () => {
    const outcomes: string[] = [];
    let started!: () => void;
    const firstStarted = new Promise<void>((r) => {
      started = r;
    });
    const { input, done, shown } = repl(async (q, signal) => {
      if (q === 'slow') {
        started();
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        outcomes.push(`slow:${signal.aborted ? 'cancelled' : 'done'}`);
        return;
      }
      outcomes.push(`${q}:${signal.aborted ? 'cancelled' : 'done'}`);
    });
    input.write('slow\n');
    await firstStarted;
    input.write('\x03');
    input.write('fast\nquit\n');
    assert.equal(await done, 2);
    assert.deepEqual(outcomes, ['slow:cancelled', 'fast:done']);
    assert.match(shown(), /\(cancelled\)/);
  });

  it('Ctrl-C at an idle prompt explains how to leave instead of exiting', async () => {
    const { input, done, shown } = repl(async () => {});
    input.write('\x03');
    input.write('quit\n');
    assert.equal(await done, 0);
    assert.match(shown(), /type quit or press Ctrl-D/);
  });

  it('an outer abort (SIGTERM) ends the REPL', async () => {
    const controller = new AbortController();
    const { done } = repl(async () => {}, controller.signal);
    controller.abort();
    assert.equal(await done, 0);
  });
});
