/**
 * A `--tools-dir` plug-in that console.log()s at import, in execute and from a timer cannot break
 * `heavy --json`: the real binary's stdout parses as one JSON document and the chatter is on
 * stderr. A real process, because only there do plug-in writes and the CLI share one stdout.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type RecordedRequest, startFakeOpenAIServer } from '../../src/testing/index.ts';
import { runCli } from '../helpers/run-cli.ts';

const toolsDir = join(import.meta.dirname, '../fixtures/agents/tools-noisy');
let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'marshal-safety-stdout-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Agents call the noisy tool once, then answer; calls without tools (decompose, combine) answer. */
function script(req: RecordedRequest) {
  const body = req.body as { tools?: unknown[]; messages: Array<{ role: string }> };
  if (body.messages.at(-1)?.role === 'tool') return { content: 'agent answer' };
  if (body.tools !== undefined && body.tools.length > 0) {
    return { toolCalls: [{ name: 'noisy_echo', arguments: { text: 'hi' } }] };
  }
  return { content: JSON.stringify(['first angle?', 'second angle?']) };
}

describe('tools-dir output', { timeout: 60_000 }, () => {
  it('heavy --json prints one JSON document on stdout while a plug-in console.logs', async () => {
    const server = await startFakeOpenAIServer(script);
    try {
      const r = await runCli(
        ['heavy', '--base-url', server.url, '--tools-dir', toolsDir, '-n', '2', '--json', 'Question?'],
        { cwd: dir, env: { PATH: process.env.PATH, HOME: dir, NO_COLOR: '1' } },
      );
      assert.equal(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout) as { agents: unknown[] };
      assert.equal(doc.agents.length, 2);
      assert.ok(!r.stdout.includes('noisy:'));
      for (const line of [
        'noisy: loaded',
        'noisy: raw write at import',
        'noisy: executing hi',
        'noisy: from a timer',
      ]) {
        assert.ok(r.stderr.includes(line), `${line} missing from stderr:\n${r.stderr}`);
      }
      const toolReplies = JSON.stringify(server.chatRequests().map((q) => q.body));
      assert.ok(toolReplies.includes('echo: hi'));
    } finally {
      await server.close();
    }
  });
});
