import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { HeavyResult } from '../../src/agents/run-heavy.ts';
import { type FakeReply, type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';
import { BIN } from '../helpers/run-cli.ts';
import { runMain } from '../helpers/run-main.ts';

const ROOT = new URL('../..', import.meta.url).pathname;
const QUESTION = 'What makes Rust memory safe?';
const SUBS = [
  'How does ownership work?',
  'What does the borrow checker verify?',
  'Where is unsafe needed?',
  'How do lifetimes help?',
];

/**
 * Runs main() in-process (no process per case) with an environment holding no API key unless
 * `extraEnv` adds one. The Ctrl-C test below spawns the real binary: signals need a process.
 */
function runCli(
  args: string[],
  options: { cwd?: string; extraEnv?: Record<string, string>; stdinText?: string } = {},
) {
  return runMain(args, {
    cwd: options.cwd ?? ROOT,
    env: { NO_COLOR: '1', ...options.extraEnv },
    ...(options.stdinText === undefined ? {} : { stdinText: options.stdinText }),
  });
}

function text(req: RecordedRequest): string {
  return JSON.stringify(req.body);
}

/** Which agent (0-based sub-question index) sent `req`, or 'decompose' / 'combine'. */
function who(req: RecordedRequest): number | 'decompose' | 'combine' {
  const t = text(req);
  if (t.includes('orchestrator')) return 'decompose';
  if (t.includes('research agents each investigated')) return 'combine';
  return SUBS.findIndex((s) => t.includes(s));
}

describe('marshal heavy (main() against the fake OpenAI-compatible server)', () => {
  let dir: string;
  let workspace: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'marshal-heavy-'));
    workspace = join(dir, 'ws');
    await mkdir(workspace);
    await writeFile(join(workspace, 'notes.txt'), 'ownership notes');
    await writeFile(join(dir, 'secret.txt'), 'TOPSECRET-CONTENT');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs 4 agents concurrently with tools, survives a 429, a hang, a bad tool call and a path escape', async () => {
    const calls = [0, 0, 0, 0];
    let firstArrivals = 0;
    let releaseAll!: () => void;
    const allArrived = new Promise<void>((r) => {
      releaseAll = r;
    });
    const server = await startFakeOpenAIServer(async (req): Promise<FakeReply> => {
      const w = who(req);
      if (w === 'decompose') return { content: `Here you go:\n\`\`\`json\n${JSON.stringify(SUBS)}\n\`\`\`` };
      if (w === 'combine') return { content: 'FINAL: ownership + borrow checking.' };
      if (w < 0) return { status: 400, body: { error: { message: 'unexpected request' } } };
      const n = calls[w]!++;
      if (n === 0) {
        // Concurrency proof: no agent gets its first reply before all four first requests arrived.
        if (++firstArrivals === 4) releaseAll();
        await Promise.race([
          allArrived,
          new Promise((_, rej) => setTimeout(() => rej(new Error('agents did not overlap')), 20_000)),
        ]);
      }
      switch (w) {
        case 0: // path escape through read_file, then an answer
          if (n === 0) return { toolCalls: [{ name: 'read_file', arguments: { path: '../secret.txt' } }] };
          if (n === 1) return { toolCalls: [{ name: 'read_file', arguments: { path: 'notes.txt' } }] };
          return { content: 'Ownership moves values.' };
        case 1: // 429 with Retry-After, then a calculation
          if (n === 0) return { status: 429, retryAfter: '0' };
          if (n === 1) return { toolCalls: [{ name: 'calculate', arguments: { expression: '6*7' } }] };
          return { content: 'The borrow checker verifies aliasing XOR mutation.' };
        case 2: // hangs: the agent deadline marks it timeout
          return { hang: true };
        default: // an invalid tool call (broken JSON), then recovery
          if (n === 0) return { toolCalls: [{ name: 'calculate', arguments: '{"expression": ' }] };
          return { content: 'Lifetimes bound references.' };
      }
    });
    try {
      const r = await runCli(
        [
          'heavy',
          '--base-url',
          server.url,
          '-n',
          '4',
          '--json',
          '--agent-timeout',
          '5',
          '--workspace',
          workspace,
          QUESTION,
        ],
        { cwd: dir },
      );
      assert.equal(r.code, 0, r.stderr);
      const result = JSON.parse(r.stdout) as HeavyResult;
      assert.equal(result.answer, 'FINAL: ownership + borrow checking.');
      assert.deepEqual(result.subQuestions, SUBS);
      assert.deepEqual(
        result.agents.map((a) => a.status),
        ['ok', 'ok', 'timeout', 'ok'],
      );
      assert.equal(result.agents[2]!.error?.code, 'E_TIMEOUT');
      assert.deepEqual(result.agents[0]!.toolCalls, [
        { name: 'read_file', ok: false },
        { name: 'read_file', ok: true },
      ]);
      assert.deepEqual(result.agents[1]!.toolCalls, [{ name: 'calculate', ok: true }]);
      assert.deepEqual(result.agents[3]!.toolCalls, [{ name: 'calculate', ok: false }]);
      assert.equal(calls[1], 3, '429 then two successful calls');
      const chats = server.chatRequests();
      const bodies = chats.map(text).join('\n');
      assert.ok(!bodies.includes('TOPSECRET'), 'the escaped file never reached the model');
      assert.ok(bodies.includes('ownership notes'), 'the file inside the workspace did');
      assert.ok(bodies.includes('42'), 'the calculator result went back to the model');
      const synth = chats.find((q) => who(q) === 'combine');
      assert.ok(synth && text(synth).includes(QUESTION), 'the synthesis call saw the original question');
      assert.ok(!text(synth).includes('unexpected'), 'the hung agent contributed nothing');
      const agentsTotal = result.agents.reduce((sum, a) => sum + a.usage.promptTokens, 0);
      assert.equal(result.usage.promptTokens, agentsTotal + 10 + 10, 'agents + decompose + synthesis');
      assert.ok(
        chats.every((q) => q.headers.authorization === undefined),
        'no key: no Authorization header',
      );
      assert.match(r.stderr, /agent-2: retry 1/);
    } finally {
      await server.close();
    }
  });

  it('prints the answer on stdout and progress lines on stderr; --trace writes redacted JSONL', async () => {
    const key = 'sk-test-abcdefghijklmnopqrstuvwxyz0123';
    const server = await startFakeOpenAIServer((req) => {
      const w = who(req);
      if (w === 'decompose') return { content: JSON.stringify(SUBS.slice(0, 2)) };
      if (w === 'combine') return { content: `combined answer (echo ${key})` };
      return { content: `answer ${w}` };
    });
    try {
      const trace = join(dir, 'trace.jsonl');
      const r = await runCli(
        [
          'heavy',
          '--base-url',
          server.url,
          '--api-key-env',
          'OPENAI_API_KEY',
          '-n',
          '2',
          '--trace',
          trace,
          QUESTION,
        ],
        {
          cwd: dir,
          extraEnv: { OPENAI_API_KEY: key },
        },
      );
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^combined answer/);
      assert.match(r.stderr, /decompose: 2 sub-question/);
      assert.match(r.stderr, /agent-1: ok/);
      assert.equal(server.chatRequests()[0]!.headers.authorization, `Bearer ${key}`);
      const lines = (await readFile(trace, 'utf8')).trim().split('\n');
      const types = lines.map((l) => (JSON.parse(l) as { type: string }).type);
      assert.deepEqual(types.slice(0, 2), ['trace_start', 'run_start']);
      assert.ok(types.includes('llm_request') && types.includes('agent_done') && types.at(-1) === 'run_done');
      const all = lines.join('\n');
      assert.ok(!all.includes(key), 'the API key never reaches the trace');
    } finally {
      await server.close();
    }
  });

  it('exit 3 with the JSON document still printed when no agent answers', async () => {
    const server = await startFakeOpenAIServer((req) =>
      who(req) === 'decompose' ? { content: JSON.stringify(SUBS.slice(0, 2)) } : { status: 400 },
    );
    try {
      const r = await runCli(['heavy', '--base-url', server.url, '-n', '2', '--json', QUESTION], {
        cwd: dir,
      });
      assert.equal(r.code, 3, r.stderr);
      const result = JSON.parse(r.stdout) as HeavyResult;
      assert.equal(result.answer, null);
      assert.ok(result.agents.every((a) => a.status === 'failed' && a.error?.code === 'E_LLM_HTTP'));
    } finally {
      await server.close();
    }
  });

  it('the default endpoint without a key exits 2 naming OPENROUTER_API_KEY', async () => {
    const r = await runCli(['heavy', 'question'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /OPENROUTER_API_KEY/);
    assert.equal(r.stdout, '');
  });

  it('a 401 ends the run after the first reply: one message naming the key variable, exit 2', async () => {
    const server = await startFakeOpenAIServer(() => ({
      status: 401,
      body: { error: { message: 'User not found.', code: 401 } },
    }));
    try {
      const r = await runCli(['heavy', '--base-url', server.url, '-n', '4', QUESTION], {
        cwd: dir,
        extraEnv: { OPENAI_API_KEY: 'sk-test-0123456789abcdefghij' },
      });
      assert.equal(r.code, 2, r.stderr);
      assert.equal(server.chatRequests().length, 1);
      assert.equal(r.stderr.match(/User not found/g)?.length, 1, r.stderr);
      assert.match(r.stderr, /OPENAI_API_KEY/);
      assert.doesNotMatch(r.stderr, /sk-test-0123456789abcdefghij/);
    } finally {
      await server.close();
    }
  });

  it('an unknown model ends the run naming the model, exit 2', async () => {
    const server = await startFakeOpenAIServer(() => ({
      status: 400,
      body: { error: { message: 'nope/nope is not a valid model ID', code: 400 } },
    }));
    try {
      const r = await runCli(
        ['heavy', '--base-url', server.url, '--model', 'nope/nope', '--json', QUESTION],
        {
          cwd: dir,
        },
      );
      assert.equal(r.code, 2, r.stderr);
      assert.equal(server.chatRequests().length, 1);
      const doc = JSON.parse(r.stdout) as { error: { code: string; hint?: string } };
      assert.equal(doc.error.code, 'E_LLM_REFUSED');
      assert.match(doc.error.hint ?? '', /"nope\/nope"/);
    } finally {
      await server.close();
    }
  });

  it('credentials inside --base-url never appear in messages, the JSON result or the trace', async () => {
    const server = await startFakeOpenAIServer((req) =>
      who(req) === 'decompose'
        ? { content: JSON.stringify(SUBS.slice(0, 2)) }
        : who(req) === 'combine'
          ? { status: 500, body: { error: { message: 'combine down' } } }
          : { content: 'an answer' },
    );
    const trace = join(dir, 'cred-trace.jsonl');
    try {
      const url = server.url.replace('http://', 'http://alice:hunter2-s3cret@');
      const r = await runCli(['heavy', '--base-url', url, '-n', '2', '--trace', trace, '--json', QUESTION], {
        cwd: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      const traced = await readFile(trace, 'utf8');
      for (const out of [r.stdout, r.stderr, traced]) assert.doesNotMatch(out, /hunter2-s3cret/);
      assert.ok(server.chatRequests().length >= 3);
      const basic = `Basic ${Buffer.from('alice:hunter2-s3cret').toString('base64')}`;
      assert.ok(server.chatRequests().every((q) => q.headers.authorization === basic));
      const bad = await runCli(['heavy', '--base-url', 'ftp://bob:pa55w0rd-x@127.0.0.1/v1', 'q'], {
        cwd: dir,
      });
      assert.equal(bad.code, 2);
      assert.doesNotMatch(bad.stderr, /pa55w0rd-x/);
    } finally {
      await server.close();
    }
  });

  it('bad flags and config values exit 2 naming the option, file, key and value', async () => {
    let r = await runCli(['heavy', '-n', '65', '--base-url', 'http://127.0.0.1:9/v1', 'q'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--agents must be an integer from 1 to 64, got "65"/);
    await writeFile(join(dir, 'bad.yaml'), 'heavy:\n  timeout: -5\n');
    r = await runCli(['heavy', '-c', 'bad.yaml', 'q'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad\.yaml:2: heavy\.timeout: .*-5/);
    r = await runCli(['heavy', '--strategy', 'majority', '--base-url', 'http://127.0.0.1:9/v1', 'q'], {
      cwd: dir,
    });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--strategy: expected one of .*"majority"/);
  });

  it('--base-url refuses every scheme but http and https, naming the option and the value', async () => {
    for (const url of [
      'file:///etc/passwd',
      'ftp://127.0.0.1/v1',
      'javascript:alert(1)',
      'data:text/plain,hi',
    ]) {
      const r = await runCli(['heavy', '--base-url', url, 'q'], { cwd: dir });
      assert.equal(r.code, 2, url);
      assert.ok(
        r.stderr.includes(`--base-url must be an http or https URL, got ${JSON.stringify(url)}`),
        r.stderr,
      );
    }
  });

  it('provider.baseUrl in a config refuses other schemes too, naming the key and the value', async () => {
    await writeFile(join(dir, 'scheme.yaml'), 'provider:\n  baseUrl: file:///etc/passwd\n');
    const r = await runCli(['heavy', '-c', 'scheme.yaml', 'q'], { cwd: dir });
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /scheme\.yaml:2: provider\.baseUrl: expected an http or https URL, got "file:\/\/\/etc\/passwd"/,
    );
  });

  it('heavy - reads the question from stdin, capped at 256 KiB (exit 2 past it)', async () => {
    const server = await startFakeOpenAIServer(() => ({ content: 'from stdin' }));
    try {
      let r = await runCli(['heavy', '--base-url', server.url, '-n', '1', '-'], {
        cwd: dir,
        stdinText: 'Question on stdin?\n',
      });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(JSON.stringify(server.chatRequests()[0]!.body).includes('Question on stdin?'));
      const before = server.chatRequests().length;
      r = await runCli(['heavy', '--base-url', server.url, '-n', '1', '-'], {
        cwd: dir,
        stdinText: 'x'.repeat(256 * 1024 + 1),
      });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /the question on stdin is larger than the 256 KiB limit/);
      assert.equal(server.chatRequests().length, before, 'nothing was sent');
    } finally {
      await server.close();
    }
  });

  it('help derives defaults and bounds from the settings table', async () => {
    const r = await runCli(['heavy', '--help'], { cwd: dir });
    assert.equal(r.code, 0);
    assert.match(r.stdout, /number of agents \(1-64\)/);
    assert.match(r.stdout, /--request-timeout <seconds>/);
  });

  it('Ctrl-C (SIGINT) exits 130 and prints what finished, the rest cancelled', async () => {
    let hungArrived = false;
    // Checked on both events (whichever comes last): the hung call can reach the server after
    // the last line on stderr, and then no stderr event would ever send the signal.
    let maybeInterrupt = () => {};
    const server = await startFakeOpenAIServer((req) => {
      const w = who(req);
      if (w === 'decompose') return { content: JSON.stringify(SUBS.slice(0, 3)) };
      if (w === 2) {
        hungArrived = true;
        maybeInterrupt();
        return { hang: true };
      }
      return { content: `finished ${w}` };
    });
    const child = spawn(
      process.execPath,
      [BIN, 'heavy', '--base-url', server.url, '-n', '3', '--json', QUESTION],
      {
        cwd: dir,
        env: { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    // Interrupt once two agents are done and the third is waiting on its (hanging) call.
    maybeInterrupt = () => {
      if (!sent && hungArrived && /agent-1: ok/.test(stderr) && /agent-2: ok/.test(stderr)) {
        sent = true;
        child.kill('SIGINT');
      }
    };
    child.stderr.on('data', (d) => {
      stderr += d;
      maybeInterrupt();
    });
    try {
      const [code] = (await once(child, 'close')) as [number | null];
      assert.equal(code, 130, stderr);
      const result = JSON.parse(stdout) as HeavyResult;
      assert.deepEqual(
        result.agents.map((a) => a.status),
        ['ok', 'ok', 'cancelled'],
      );
      assert.ok(result.answer?.includes('finished 0') && result.answer.includes('finished 1'));
      assert.equal(
        server.chatRequests().filter((q) => who(q) === 'combine').length,
        0,
        'no LLM combine after Ctrl-C',
      );
    } finally {
      clearTimeout(killer);
      await server.close();
    }
  });
});
