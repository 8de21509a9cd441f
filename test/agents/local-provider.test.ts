/**
 * `provider: local` (issue 10): a GGUF model in-process through node-llama-cpp. The tests write a
 * tiny random-weight llama model (test/fixtures/agents/tiny-gguf.ts) and run it for real: its text
 * is garbage, but the grammar-constrained JSON must still give N sub-questions, valid tool calls
 * and an answer, end to end in `marshal heavy -n 2` with no network at all (`unshare -rn`: a
 * network namespace holding only a loopback that is down).
 *
 * The engine is an optional peer dependency. These tests use the copy `npm run setup:local-engine`
 * installs into node_modules/.cache/marshal-llama (CI runs it; MARSHAL_NODE_LLAMA_CPP may name
 * another) and fail, with that command in the message, when it is missing.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ToolSpec } from '../../src/agents/model.ts';
import { createLocalModel, type LocalChatModel } from '../../src/agents/providers/local.ts';
import { importLocalEngine, LOCAL_ENGINE_ENV } from '../../src/agents/providers/local-engine.ts';
import { MarshalError } from '../../src/core/errors.ts';
import { tinyGguf, writeTinyGguf } from '../fixtures/agents/tiny-gguf.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const DRIVER = join(ROOT, 'test/fixtures/agents/main-driver.ts');
const TSX = import.meta.resolve('tsx');
const ENGINE = process.env[LOCAL_ENGINE_ENV] || join(ROOT, 'node_modules/.cache/marshal-llama');
/** Safety bound only (a run takes seconds); reaching it means something hung. */
const KILL_AFTER_MS = 240_000;

/** Fails (not skips) the test that needs the engine when it is not installed. */
async function needEngine(): Promise<void> {
  try {
    await importLocalEngine({ [LOCAL_ENGINE_ENV]: ENGINE });
  } catch (error) {
    throw new Error(
      `these tests need node-llama-cpp in ${ENGINE}: run \`npm run setup:local-engine\` (about 85 MB, CPU only) or set ${LOCAL_ENGINE_ENV}; ${(error as Error).message}`,
    );
  }
}

interface Run {
  code: number | null;
  killed: boolean;
  stdout: string;
  stderr: string;
}

/** Runs `argv` (no shell), stdin closed; SIGKILL after the safety bound. */
function run(argv: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: options.cwd,
      env: options.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let killed = false;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const timer = setTimeout(() => {
      killed = true;
      child.kill('SIGKILL');
    }, KILL_AFTER_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, killed, stdout, stderr });
    });
  });
}

/** `marshal <args>` from the sources, optionally with no network (`unshare -rn`). */
function marshal(args: string[], cwd: string, env: NodeJS.ProcessEnv, offline = false): Promise<Run> {
  const node = [process.execPath, '--import', TSX, DRIVER, ...args];
  return run(offline ? ['unshare', '-rn', '--', ...node] : node, {
    cwd,
    env: { PATH: process.env.PATH, HOME: cwd, NO_COLOR: '1', ...env },
  });
}

const TOOLS: ToolSpec[] = [
  {
    name: 'calculate',
    description: 'Evaluates an arithmetic expression.',
    parameters: { type: 'object', properties: { expression: { type: 'string' } }, required: ['expression'] },
  },
  {
    name: 'read_file',
    description: 'Reads a file of the workspace.',
    parameters: {
      type: 'object',
      properties: { path: { type: 'string' }, max_lines: { type: 'integer' } },
      required: ['path', 'max_lines'],
    },
  },
];

describe('provider local (node-llama-cpp, tiny random-weight GGUF)', { timeout: 600_000 }, () => {
  let dir: string;
  let modelPath: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'marshal-local-'));
    modelPath = join(dir, 'tiny.gguf');
    await writeTinyGguf(modelPath);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs heavy -n 2 end to end with no network: N sub-questions, agent statuses, an answer', async () => {
    await needEngine();
    const ws = join(dir, 'heavy');
    await mkdir(join(ws, 'models'), { recursive: true });
    await writeTinyGguf(join(ws, 'models', 'tiny.gguf'), { seed: 1 });
    // provider.modelFile resolves against the config's directory; one thread keeps a busy
    // machine's cores from spinning against each other.
    await writeFile(
      join(ws, 'marshal.yaml'),
      [
        'provider:',
        '  kind: local',
        '  model: tiny',
        '  modelFile: models/tiny.gguf',
        '  threads: 1',
        'agent:',
        '  maxTokens: 256',
        '  maxIterations: 3',
        '',
      ].join('\n'),
    );
    const trace = join(ws, 'trace.jsonl');
    const result = await marshal(
      ['heavy', '-n', '2', '-c', 'marshal.yaml', '--json', '--trace', trace, 'Why is the sky blue?'],
      ws,
      { [LOCAL_ENGINE_ENV]: ENGINE },
      true,
    );
    assert.equal(result.killed, false);
    assert.equal(result.code, 0, `exit ${result.code}\n${result.stderr.slice(-4000)}`);
    const out = JSON.parse(result.stdout) as {
      answer: string | null;
      subQuestions: string[];
      agents: Array<{ status: string; usage: { completionTokens: number; costUsd: number } }>;
    };
    assert.equal(typeof out.answer, 'string');
    assert.ok(out.answer!.length > 0);
    assert.equal(out.subQuestions.length, 2);
    assert.ok(out.subQuestions.every((q) => q.trim().length > 0));
    assert.equal(out.agents.length, 2);
    for (const a of out.agents) {
      assert.ok(['ok', 'truncated', 'max_iterations'].includes(a.status), a.status);
      assert.ok(a.usage.completionTokens > 0);
      assert.equal(a.usage.costUsd, 0);
    }
    // The grammar gave the decomposition its two questions: no fallback to canned angles.
    const events = (await readFile(trace, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string; fallback?: boolean });
    const decomposed = events.find((e) => e.type === 'decompose_done');
    assert.equal(decomposed?.fallback, false);
  });

  it('reuses a Hugging Face URI model from the models directory with no network', async () => {
    await needEngine();
    const ws = join(dir, 'hf');
    const models = join(ws, 'cache');
    await mkdir(models, { recursive: true });
    // Where node-llama-cpp keeps hf:marshal/tiny-random/tiny.gguf once downloaded.
    await writeTinyGguf(join(models, 'hf_marshal_tiny-random_tiny.gguf'), { seed: 1 });
    await writeFile(
      join(ws, 'marshal.yaml'),
      'provider:\n  kind: local\n  modelFile: hf:marshal/tiny-random/tiny.gguf\n  threads: 1\nagent:\n  maxTokens: 64\n  maxIterations: 2\n',
    );
    const result = await marshal(
      ['ask', '-c', 'marshal.yaml', '--json', 'Why is the sky blue?'],
      ws,
      { [LOCAL_ENGINE_ENV]: ENGINE, MARSHAL_MODELS_DIR: models },
      true,
    );
    assert.equal(result.killed, false);
    assert.equal(result.code, 0, `exit ${result.code}\n${result.stderr.slice(-4000)}`);
    const out = JSON.parse(result.stdout) as { answer: string | null; status: string };
    assert.equal(typeof out.answer, 'string');
    assert.deepEqual(await readdir(models), ['hf_marshal_tiny-random_tiny.gguf']);
  });

  it('answers tool requests with calls of offered tools whose arguments are valid JSON', async () => {
    await needEngine();
    const model = await createLocalModel({
      modelFile: modelPath,
      cwd: dir,
      env: { [LOCAL_ENGINE_ENV]: ENGINE },
      threads: 1,
    });
    try {
      let calls = 0;
      let answers = 0;
      // Greedy decoding of random weights picks a call or an answer by the prompt: try several.
      for (const topic of ['sky', 'sea', 'grass', 'snow', 'fire', 'night', 'rain', 'sand']) {
        const reply = await model.chat({
          model: 'tiny',
          messages: [
            { role: 'system', content: 'You are a research agent.' },
            { role: 'user', content: `Why is the ${topic} the colour it is?` },
          ],
          tools: TOOLS,
          maxTokens: 1024,
        });
        if (reply.toolCalls.length > 0) {
          calls++;
          assert.equal(reply.finishReason, 'stop');
          for (const call of reply.toolCalls) {
            const args = JSON.parse(call.arguments) as Record<string, unknown>;
            if (call.name === 'calculate') assert.equal(typeof args.expression, 'string');
            else {
              assert.equal(call.name, 'read_file');
              assert.equal(typeof args.path, 'string');
              assert.ok(Number.isInteger(args.max_lines), JSON.stringify(args));
            }
          }
          assert.equal(new Set(reply.toolCalls.map((c) => c.id)).size, reply.toolCalls.length);
        } else {
          answers++;
          assert.equal(typeof reply.content, 'string');
          assert.ok(['stop', 'length'].includes(reply.finishReason ?? ''), String(reply.finishReason));
        }
      }
      assert.ok(calls > 0, `no tool call in 8 replies (${answers} answers)`);
      // Cut by a budget too small for any call: no call, and the JSON of a cut call is no answer.
      for (const topic of ['sky', 'sea', 'grass', 'snow']) {
        const reply = await model.chat({
          model: 'tiny',
          messages: [{ role: 'user', content: `Why is the ${topic} the colour it is?` }],
          tools: TOOLS,
          maxTokens: 20,
        });
        assert.equal(reply.finishReason, 'length');
        assert.deepEqual(reply.toolCalls, []);
        assert.ok(reply.content === null || !reply.content.includes('"tool_'), String(reply.content));
      }
    } finally {
      await model.close();
    }
  });

  it('gives a structured request exactly the schema, and stops on an aborted signal', async () => {
    await needEngine();
    const model: LocalChatModel = await createLocalModel({
      modelFile: modelPath,
      cwd: dir,
      env: { [LOCAL_ENGINE_ENV]: ENGINE },
      threads: 1,
    });
    try {
      const reply = await model.chat({
        model: 'tiny',
        messages: [{ role: 'user', content: 'Split: why is the sky blue?' }],
        responseSchema: {
          name: 'sub_questions',
          schema: {
            type: 'object',
            properties: {
              questions: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 3, maxItems: 3 },
            },
            required: ['questions'],
          },
        },
        maxTokens: 600,
      });
      assert.equal(reply.finishReason, 'stop');
      const value = JSON.parse(reply.content!) as { questions: string[] };
      assert.equal(value.questions.length, 3);
      assert.ok(value.questions.every((q) => typeof q === 'string' && q.length > 0));
      const controller = new AbortController();
      controller.abort(new Error('stop now'));
      await assert.rejects(
        model.chat({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], signal: controller.signal }),
        /stop now/,
      );
    } finally {
      await model.close();
    }
  });

  it('exits 2 with the npm command when the engine is missing', async () => {
    const empty = await mkdtemp(join(dir, 'no-engine-'));
    const result = await marshal(
      ['heavy', '-n', '2', '--json', '--provider', 'local', '--model-file', modelPath, 'q'],
      dir,
      { [LOCAL_ENGINE_ENV]: empty },
    );
    assert.equal(result.code, 2, result.stderr);
    const error = (JSON.parse(result.stdout) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'E_LOCAL_ENGINE_MISSING');
    assert.match(error.message, /npm install node-llama-cpp@3/);
    assert.match(result.stderr, /npm install node-llama-cpp@3/);
  });

  it('exits 2 naming --model-file when it is not given or does not exist', async () => {
    const none = await marshal(['heavy', '--json', '--provider', 'local', 'q'], dir, {
      [LOCAL_ENGINE_ENV]: ENGINE,
    });
    assert.equal(none.code, 2, none.stderr);
    assert.match(none.stderr, /--model-file/);
    const missing = await marshal(
      ['heavy', '--json', '--provider', 'local', '--model-file', 'nope.gguf', 'q'],
      dir,
      {
        [LOCAL_ENGINE_ENV]: ENGINE,
      },
    );
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--model-file: expected an existing \.gguf file, got ".*nope\.gguf"/);
    // A marshal.yaml found in the current directory (untrusted) may not pick the model file.
    const found = join(dir, 'found');
    await mkdir(found);
    await writeFile(join(found, 'marshal.yaml'), `provider:\n  kind: local\n  modelFile: ${modelPath}\n`);
    const untrusted = await marshal(['heavy', '--json', 'q'], found, { [LOCAL_ENGINE_ENV]: ENGINE });
    assert.equal(untrusted.code, 2, untrusted.stderr);
    assert.match(untrusted.stderr, /ignored provider\.modelFile/);
    assert.match(untrusted.stderr, /--model-file: expected a \.gguf file/);
  });

  it('refuses a FIFO, a non-GGUF and a truncated file with E_LOCAL_MODEL naming the path, without hanging', async () => {
    const fifo = join(dir, 'pipe.gguf');
    const made = spawnSync('mkfifo', [fifo]);
    assert.equal(made.status, 0, String(made.stderr));
    const text = join(dir, 'notes.gguf');
    await writeFile(text, 'hello, I am not a model\n');
    const truncated = join(dir, 'cut.gguf');
    await writeFile(truncated, tinyGguf().subarray(0, 30_000));
    const cases: Array<[string, RegExp, boolean]> = [
      [fifo, /not a regular file/, false],
      [text, /not a GGUF file/, false],
      [truncated, /Failed to load model \(a truncated file/, true],
    ];
    for (const [path, why, engine] of cases) {
      if (engine) await needEngine();
      const result = await marshal(
        ['heavy', '-n', '2', '--json', '--provider', 'local', '--model-file', path, 'q'],
        dir,
        {
          [LOCAL_ENGINE_ENV]: ENGINE,
        },
      );
      assert.equal(result.killed, false, `${path}: hung`);
      assert.equal(result.code, 1, `${path}: ${result.stderr}`);
      const error = (
        JSON.parse(result.stdout) as { error: { code: string; message: string; modelFile: string } }
      ).error;
      assert.equal(error.code, 'E_LOCAL_MODEL');
      assert.equal(error.modelFile, path);
      assert.ok(error.message.includes(JSON.stringify(path)), error.message);
      assert.match(error.message, why);
    }
    // The library throws the same class of error.
    await assert.rejects(
      createLocalModel({ modelFile: fifo, cwd: dir, env: { [LOCAL_ENGINE_ENV]: ENGINE } }),
      (e: unknown) => e instanceof MarshalError && e.code === 'E_LOCAL_MODEL',
    );
    assert.ok(existsSync(fifo));
  });
});
