import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { LoadedConfig } from '../../src/agents/config.ts';
import {
  createAgentRuntime,
  type MarshalConfig,
  runAskFromSettings,
  runHeavyFromSettings,
} from '../../src/agents/index.ts';
import { resolveSettings } from '../../src/agents/resolve-settings.ts';
import { deadline } from '../../src/core/deadline.ts';
import { MarshalError } from '../../src/core/errors.ts';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const FAKE = join(root, 'test/fixtures/agents/fake-claude.mjs');
let dir: string;
let log: string;

before(async () => {
  // `marshal mcp serve` (which the fake really starts) runs from dist/.
  if (process.env.MARSHAL_SKIP_BUILD !== '1' || !existsSync(join(root, 'dist/cli/main.js'))) {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  }
  chmodSync(FAKE, 0o755);
  dir = await mkdtemp(join(tmpdir(), 'marshal-claude-code-'));
  log = join(dir, 'claude.log');
  await writeFile(join(dir, 'notes.txt'), 'the answer is in here\n');
  await writeFile(join(dir, '.env'), 'SECRET=hunter2\n');
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function settingsFor(config: MarshalConfig) {
  const loaded: LoadedConfig = { config, path: join(dir, 'marshal.yaml'), trust: 'explicit', ignored: [] };
  return resolveSettings({ workspace: dir }, loaded, dir);
}

function envWith(extra: Record<string, string>) {
  return { PATH: process.env.PATH, HOME: process.env.HOME, FAKE_CLAUDE_LOG: log, ...extra };
}

async function lastLog(): Promise<{
  argv: string[];
  prompt: string;
  listed: string[];
  mcpConfig: unknown;
  strict: boolean;
}> {
  const lines = (await readFile(log, 'utf8')).trim().split('\n');
  return JSON.parse(lines.at(-1)!);
}

const flagValue = (argv: string[], flag: string) => argv[argv.indexOf(flag) + 1];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('provider claude-code (fake `claude` speaking stream-json, real MCP round trip)', {
  timeout: 180_000,
}, () => {
  it("answers through claude, which starts `marshal mcp serve` from --mcp-config and calls marshal's tool; usage and cost reported", async () => {
    const settings = settingsFor({ provider: { kind: 'claude-code', model: 'sonnet', claudeBinary: FAKE } });
    const env = envWith({
      FAKE_CLAUDE_CALL: JSON.stringify({ tool: 'calculate', arguments: { expression: '2**10' } }),
    });
    const runtime = await createAgentRuntime(settings, { env });
    try {
      const outcome = await runAskFromSettings('-- what is 2 to the 10th?', settings, runtime);
      assert.equal(outcome.status, 'ok', JSON.stringify(outcome.error));
      assert.match(outcome.answer ?? '', /tool said: .*1024/);
      assert.deepEqual(outcome.usage, { promptTokens: 105, completionTokens: 20, costUsd: 0.0123 });
    } finally {
      await runtime.close();
    }
    const seen = await lastLog();
    // The documented invocation: print mode, stream-json needs --verbose; built-ins off, only our MCP config.
    assert.equal(seen.argv[0], '-p');
    assert.equal(flagValue(seen.argv, '--output-format'), 'stream-json');
    assert.ok(seen.argv.includes('--verbose'));
    assert.equal(flagValue(seen.argv, '--model'), 'sonnet');
    assert.equal(flagValue(seen.argv, '--max-turns'), '10');
    assert.equal(flagValue(seen.argv, '--tools'), '');
    assert.equal(seen.strict, true);
    // The question went on stdin, so its leading "--" was never read as a flag.
    assert.match(seen.prompt, /^-- what is 2 to the 10th\?/);
    assert.ok(!seen.argv.some((a) => a.includes('what is 2')));
    // Only marshal's served tools, named as Claude Code names MCP tools.
    assert.deepEqual(flagValue(seen.argv, '--allowedTools')!.split(',').sort(), [
      'mcp__marshal__calculate',
      'mcp__marshal__read_file',
      'mcp__marshal__search_web',
    ]);
    assert.deepEqual([...seen.listed].sort(), [
      'mcp__marshal__calculate',
      'mcp__marshal__read_file',
      'mcp__marshal__search_web',
    ]);
    // The temporary --mcp-config is gone after the run.
    assert.equal(existsSync(flagValue(seen.argv, '--mcp-config')!), false);
  });

  it("gives claude the mcp.servers' tools too (marshal mcp serve --proxy-mcp, real server-everything)", async () => {
    const require = createRequire(import.meta.url);
    const everything = join(
      require.resolve('@modelcontextprotocol/server-everything/package.json'),
      '..',
      'dist',
      'index.js',
    );
    // A relative cwd means the config's directory, also once the proxy's config is elsewhere.
    mkdirSync(join(dir, 'mcp-cwd'), { recursive: true });
    const settings = settingsFor({
      provider: { kind: 'claude-code', model: 'sonnet', claudeBinary: FAKE },
      mcp: {
        servers: { everything: { command: process.execPath, args: [everything, 'stdio'], cwd: 'mcp-cwd' } },
      },
    });
    const env = envWith({
      FAKE_CLAUDE_CALL: JSON.stringify({
        tool: 'everything__echo',
        arguments: { message: 'hi from claude' },
      }),
    });
    const runtime = await createAgentRuntime(settings, { env });
    try {
      const outcome = await runAskFromSettings('echo it', settings, runtime);
      assert.equal(outcome.status, 'ok', JSON.stringify(outcome.error));
      assert.match(outcome.answer ?? '', /tool said: .*hi from claude/);
    } finally {
      await runtime.close();
    }
    const seen = await lastLog();
    const allowed = flagValue(seen.argv, '--allowedTools')!.split(',');
    assert.ok(allowed.includes('mcp__marshal__everything__echo'), allowed.join(','));
    assert.ok(allowed.includes('mcp__marshal__calculate'), allowed.join(','));
    assert.ok(seen.listed.includes('mcp__marshal__everything__echo'), seen.listed.join(','));
    assert.ok(!allowed.some((n) => n.includes('mark_task_complete')));
  });

  it('the served tools keep the safety settings: a protected file is refused to claude too', async () => {
    const settings = settingsFor({ provider: { kind: 'claude-code', model: 'sonnet', claudeBinary: FAKE } });
    const env = envWith({
      FAKE_CLAUDE_CALL: JSON.stringify({ tool: 'read_file', arguments: { path: '.env' } }),
    });
    const runtime = await createAgentRuntime(settings, { env });
    try {
      const outcome = await runAskFromSettings('read .env', settings, runtime);
      assert.equal(outcome.status, 'ok');
      assert.doesNotMatch(outcome.answer ?? '', /hunter2/);
      assert.match(outcome.answer ?? '', /protected|refused|not allowed/i);
    } finally {
      await runtime.close();
    }
  });

  it('is_error and a missing result event fail the agent with E_CLAUDE_CODE; error_max_turns keeps the text as truncated', async () => {
    const settings = settingsFor({ provider: { kind: 'claude-code', model: 'sonnet', claudeBinary: FAKE } });
    for (const [mode, status, pattern] of [
      ['error', 'failed', /claude reported an error \(error_during_execution\): the API said no/],
      ['noresult', 'failed', /claude exited \(code 3\) without a result event: fake-claude: crashed/],
      ['max_turns', 'truncated', undefined],
    ] as const) {
      const runtime = await createAgentRuntime(settings, { env: envWith({ FAKE_CLAUDE_MODE: mode }) });
      try {
        const outcome = await runAskFromSettings('q', settings, runtime);
        assert.equal(outcome.status, status, mode);
        if (pattern) {
          assert.equal(outcome.error?.code, 'E_CLAUDE_CODE');
          assert.match(outcome.error?.message ?? '', pattern);
        } else assert.match(outcome.answer ?? '', /claude answers: q/);
      } finally {
        await runtime.close();
      }
    }
  });

  it('an abort stops claude and its whole process group', async () => {
    const pidfile = join(dir, 'hang.pid');
    const settings = settingsFor({ provider: { kind: 'claude-code', model: 'sonnet', claudeBinary: FAKE } });
    const runtime = await createAgentRuntime(settings, {
      env: envWith({ FAKE_CLAUDE_MODE: 'hang', FAKE_CLAUDE_PIDFILE: pidfile }),
    });
    const controller = new AbortController();
    try {
      const running = runAskFromSettings('q', settings, runtime, { signal: controller.signal });
      const d = deadline(60_000, [], 'fake claude to start');
      try {
        while (!existsSync(pidfile)) {
          assert.ok(!d.expired, 'fake claude did not start');
          await new Promise((r) => setTimeout(r, 20));
        }
      } finally {
        d.clear();
      }
      const [pid, child] = (await readFile(pidfile, 'utf8')).trim().split(' ').map(Number) as [
        number,
        number,
      ];
      assert.ok(alive(pid) && alive(child));
      controller.abort(new Error('user abort'));
      const outcome = await running;
      assert.equal(outcome.status, 'cancelled');
      assert.equal(alive(pid), false, 'claude stopped');
      assert.equal(alive(child), false, 'its child (same group) stopped');
    } finally {
      await runtime.close();
    }
  });

  it('a missing binary is E_CLAUDE_CODE_MISSING (exit 2) with the install hint, before anything runs', async () => {
    const settings = settingsFor({ provider: { kind: 'claude-code', claudeBinary: join(dir, 'no-claude') } });
    await assert.rejects(createAgentRuntime(settings, { env: envWith({}) }), (e: unknown) => {
      assert.ok(e instanceof MarshalError);
      assert.equal(e.code, 'E_CLAUDE_CODE_MISSING');
      assert.equal(e.exitCode, 2);
      assert.match(e.hint ?? '', /npm install -g @anthropic-ai\/claude-code/);
      return true;
    });
    // Default binary name `claude`, searched in PATH.
    const byName = settingsFor({ provider: { kind: 'claude-code' } });
    assert.equal(byName.model, 'sonnet', 'a Claude Code alias, not the HTTP default model');
    await assert.rejects(createAgentRuntime(byName, { env: { PATH: dir } }), /"claude" was not found/);
  });
});

describe('per-agent provider: one heavy run mixes the HTTP endpoint and claude-code', {
  timeout: 180_000,
}, () => {
  it('agent-2 runs on claude-code (model sonnet), the others and both steps on the HTTP endpoint', async () => {
    const server = await startFakeOpenAIServer((req) => {
      const body = req.body as { messages: Array<{ content: string }>; response_format?: unknown };
      const text = body.messages.map((m) => m.content).join('\n');
      // The decomposition asks for structured output; the combine step sees both answers.
      if (body.response_format !== undefined)
        return { content: JSON.stringify({ questions: ['first angle?', 'second angle?'] }) };
      if (text.includes('claude answers:')) return { content: 'combined answer' };
      return { content: 'http agent answer' };
    });
    try {
      const settings = settingsFor({
        provider: { baseUrl: server.url, model: 'fake-model', claudeBinary: FAKE },
        heavy: { agents: 2, perAgent: [{}, { provider: 'claude-code', model: 'sonnet' }] },
      });
      const runtime = await createAgentRuntime(settings, { env: envWith({}) });
      let result: Awaited<ReturnType<typeof runHeavyFromSettings>>;
      try {
        result = await runHeavyFromSettings('the question', settings, runtime);
      } finally {
        await runtime.close();
      }
      assert.equal(result.agents.length, 2);
      assert.equal(result.agents[1]!.status, 'ok');
      assert.match(result.agents[1]!.answer ?? '', /^claude answers: /);
      assert.doesNotMatch(result.agents[0]!.answer ?? '', /claude answers/);
      // No request for the claude-code agent's model reached the HTTP endpoint.
      assert.ok(server.chatRequests().length >= 3);
      for (const r of server.chatRequests()) assert.equal((r.body as { model: string }).model, 'fake-model');
      const seen = await lastLog();
      assert.equal(flagValue(seen.argv, '--model'), 'sonnet');
      // Claude's cost counts in the run's usage.
      assert.ok((result.usage.costUsd ?? 0) >= 0.0123);
    } finally {
      await server.close();
    }
  });

  it('refuses a per-agent provider without a model id of its own (calls are routed by model id)', async () => {
    const settings = settingsFor({
      provider: { baseUrl: 'http://127.0.0.1:9/v1', model: 'fake-model', claudeBinary: FAKE },
      heavy: { perAgent: [{ provider: 'claude-code' }] },
    });
    await assert.rejects(createAgentRuntime(settings, { env: envWith({}) }), /heavy\.perAgent\[0\]\.model/);
  });
});
