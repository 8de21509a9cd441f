import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';
import { runCli } from '../helpers/run-cli.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const require = createRequire(import.meta.url);
const EVERYTHING = join(
  require.resolve('@modelcontextprotocol/server-everything/package.json'),
  '..',
  'dist',
  'index.js',
);
let dir: string;
let env: Record<string, string | undefined>;

before(async () => {
  if (process.env.MARSHAL_SKIP_BUILD !== '1' || !existsSync(join(root, 'dist/cli/main.js'))) {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  }
  dir = await mkdtemp(join(tmpdir(), 'marshal-mcp-cli-'));
  env = { PATH: process.env.PATH, HOME: process.env.HOME, XDG_CONFIG_HOME: join(dir, 'xdg'), NO_COLOR: '1' };
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A marshal.yaml with the real everything server, tagged by `marker` on its command line. */
async function configWith(name: string, marker: string, extra = ''): Promise<string> {
  const file = join(dir, name);
  await writeFile(
    file,
    [
      'mcp:',
      '  servers:',
      '    everything:',
      `      command: ${JSON.stringify(process.execPath)}`,
      `      args: [${JSON.stringify(EVERYTHING)}, stdio, ${JSON.stringify(`--marker=${marker}`)}]`,
      extra,
    ].join('\n'),
  );
  return file;
}

function pidsWith(marker: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker) && !/\) Z /.test(stat))
        out.push(Number(entry));
    } catch {}
  }
  return out;
}

describe('marshal tools list / ask with MCP servers (built CLI, real server-everything)', {
  timeout: 180_000,
}, () => {
  it('`tools list` shows built-ins and SERVER__TOOL with their source, text and --json; the server is stopped after', async () => {
    const marker = `cli-list-${process.pid}`;
    const cfg = await configWith('list.yaml', marker);
    const r = await runCli(['tools', 'list', '-c', cfg, '--workspace', dir], {
      env,
      cwd: dir,
      timeoutMs: 90_000,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^calculate +builtin +/m);
    assert.match(r.stdout, /^everything__echo +mcp:everything +Echoes back the input string$/m);
    assert.doesNotMatch(r.stdout, /^write_file/m);
    const j = await runCli(['tools', 'list', '-c', cfg, '--workspace', dir, '--allow-write', '--json'], {
      env,
      cwd: dir,
      timeoutMs: 90_000,
    });
    assert.equal(j.code, 0, j.stderr);
    const doc = JSON.parse(j.stdout) as {
      tools: Array<{ name: string; source: string; parameters: { required?: string[] } }>;
    };
    const echo = doc.tools.find((t) => t.name === 'everything__echo')!;
    assert.equal(echo.source, 'mcp:everything');
    assert.deepEqual(echo.parameters.required, ['message']);
    assert.ok(doc.tools.some((t) => t.name === 'write_file'));
    assert.deepEqual(pidsWith(marker), [], 'no orphaned server after the command');
  });

  it('an untrusted ./marshal.yaml with mcp.servers starts nothing and says so in one line', async () => {
    const cwd = await mkdtemp(join(dir, 'untrusted-'));
    const marker = `cli-untrusted-${process.pid}`;
    const cfg = await configWith('untrusted-cfg.yaml', marker);
    await writeFile(join(cwd, 'marshal.yaml'), readFileSync(cfg));
    const r = await runCli(['tools', 'list'], { env, cwd, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(
      r.stderr,
      /^marshal: \.\/marshal\.yaml is not trusted: ignored mcp\.servers; to trust it: marshal trust \.\/marshal\.yaml$/m,
    );
    assert.doesNotMatch(r.stdout, /everything__/);
    // Trusted, the same file's server runs.
    assert.equal((await runCli(['trust'], { env, cwd })).code, 0);
    const t = await runCli(['tools', 'list'], { env, cwd, timeoutMs: 90_000 });
    assert.match(t.stdout, /^everything__echo /m);
    assert.deepEqual(pidsWith(marker), []);
  });

  it('`ask` calls an MCP tool for the model and stops the server with the run', async () => {
    const marker = `cli-ask-${process.pid}`;
    const server = await startFakeOpenAIServer((req, i) => {
      if (i === 0) return { toolCalls: [{ name: 'everything__echo', arguments: { message: 'over mcp' } }] };
      const msgs = (req.body as { messages: Array<{ role: string; content: string }> }).messages;
      return { content: `got ${msgs.filter((m) => m.role === 'tool').at(-1)!.content}` };
    });
    try {
      const cfg = await configWith(
        'ask.yaml',
        marker,
        `provider:\n  baseUrl: ${server.url}\n  model: fake-model\n`,
      );
      const r = await runCli(['ask', '-c', cfg, '--workspace', dir, 'echo please'], {
        env,
        cwd: dir,
        timeoutMs: 90_000,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /got Echo: over mcp/);
    } finally {
      await server.close();
    }
    assert.deepEqual(pidsWith(marker), [], 'no orphaned server after the run');
  });

  it('provider claude-code without the binary: exit 2 with the install hint (and E_CLAUDE_CODE_MISSING with --json)', async () => {
    const cfg = join(dir, 'claude.yaml');
    await writeFile(cfg, `provider:\n  kind: claude-code\n  claudeBinary: ${join(dir, 'no-claude')}\n`);
    const r = await runCli(['ask', '-c', cfg, 'q'], { env, cwd: dir });
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /npm install -g @anthropic-ai\/claude-code/);
    const j = await runCli(['ask', '-c', cfg, '--json', 'q'], { env, cwd: dir });
    assert.equal(j.code, 2);
    assert.equal((JSON.parse(j.stdout) as { error: { code: string } }).error.code, 'E_CLAUDE_CODE_MISSING');
  });

  it("`ask --provider claude-code` runs the `claude` found in PATH, which gets marshal's tools over MCP", async () => {
    const bin = await mkdtemp(join(dir, 'bin-'));
    await symlink(join(root, 'test/fixtures/agents/fake-claude.mjs'), join(bin, 'claude'));
    chmodSync(join(root, 'test/fixtures/agents/fake-claude.mjs'), 0o755);
    const r = await runCli(
      ['ask', '--provider', 'claude-code', '--model', 'sonnet', '--workspace', dir, '--json', 'q?'],
      {
        env: {
          ...env,
          PATH: `${bin}:${process.env.PATH}`,
          FAKE_CLAUDE_CALL: JSON.stringify({ tool: 'calculate', arguments: { expression: '6*7' } }),
        },
        cwd: dir,
        timeoutMs: 120_000,
      },
    );
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as { answer: string; usage: { costUsd: number } };
    assert.match(doc.answer, /tool said: .*42/);
    assert.equal(doc.usage.costUsd, 0.0123);
    const missing = await runCli(['ask', '--provider', 'claude-code', 'q'], {
      env: { ...env, PATH: dir },
      cwd: dir,
    });
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /"claude" was not found/);
    const bad = await runCli(['ask', '--provider', 'gemini', 'q'], { env, cwd: dir });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--provider/);
  });

  it('`marshal --help` lists tools list and mcp serve', async () => {
    const r = await runCli(['--help'], { env });
    assert.match(r.stdout, /tools list/);
    assert.match(r.stdout, /mcp serve/);
  });
});
