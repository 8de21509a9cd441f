import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { runRepl } from '../../src/cli/ask-repl.ts';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';
import { runCli } from '../helpers/run-cli.ts';

const env = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' };

describe('marshal ask (real CLI)', () => {
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
        'write_file',
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
    const server = await startFakeOpenAIServer([{ status: 401 }]);
    try {
      const r = await runCli(['ask', '--base-url', server.url, 'q?'], { cwd: dir, env });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /failed/);
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
