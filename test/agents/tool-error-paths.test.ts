/**
 * Tool errors sent to the model name paths relative to the workspace, never absolute paths of
 * this machine (issue 14 item 4). The real HTTP provider talks to the fake server; the test reads
 * the tool messages the server received.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { z } from 'zod';
import {
  createBuiltinTools,
  createOpenAICompatibleModel,
  runAgent,
  type ToolDefinition,
  ToolRegistry,
} from '../../src/agents/index.ts';
import { startFakeOpenAIServer } from '../../src/testing/index.ts';

describe('tool errors shown to the model', () => {
  let root: string;
  let workspace: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'marshal-tool-paths-'));
    workspace = join(root, 'ws');
    await mkdir(workspace);
    await writeFile(join(root, 'secret.txt'), 'secret');
    await symlink(join(root, 'secret.txt'), join(workspace, 'link.txt'));
    await mkdir(join(workspace, 'adir'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('name the path as given and "the workspace", not its absolute path', async () => {
    const leaky: ToolDefinition<{ name: string }> = {
      name: 'leaky',
      description: 'a plug-in tool whose error holds an absolute path',
      parameters: z.strictObject({ name: z.string() }),
      async execute({ name }, ctx) {
        throw new Error(`cannot open ${join(ctx.workspace, name)}`);
      },
    };
    const calls = [
      { name: 'read_file', arguments: { path: '../secret.txt' } },
      { name: 'read_file', arguments: { path: join(root, 'secret.txt') } },
      { name: 'read_file', arguments: { path: 'link.txt' } },
      { name: 'write_file', arguments: { path: '../../escape.txt', content: 'x' } },
      { name: 'read_file', arguments: { path: 'adir' } },
      { name: 'leaky', arguments: { name: 'sub/file.txt' } },
    ];
    const server = await startFakeOpenAIServer([{ toolCalls: calls }, { content: 'done' }]);
    try {
      const outcome = await runAgent({
        id: 'agent-1',
        model: createOpenAICompatibleModel({ baseUrl: server.url, retries: 0 }),
        modelId: 'm',
        systemPrompt: 's',
        originalQuestion: 'q',
        question: 'q',
        tools: new ToolRegistry([...createBuiltinTools({ workspace, allowWrite: true }), leaky]),
        maxIterations: 3,
        workspace,
      });
      assert.equal(outcome.status, 'ok');
      const second = server.chatRequests()[1]!.body as { messages: Array<{ role: string; content: string }> };
      const toolMessages = second.messages.filter((m) => m.role === 'tool').map((m) => m.content);
      assert.equal(toolMessages.length, calls.length);
      toolMessages.forEach((content, i) => {
        assert.ok(!content.includes(workspace), `the workspace's absolute path leaked: ${content}`);
        // Call 1 gave an absolute path itself; echoing what the model sent reveals nothing new.
        if (i !== 1) assert.ok(!content.includes(dirname(root)), `absolute path leaked: ${content}`);
        assert.match(content, /"success":false/);
      });
      assert.match(toolMessages[1]!, /is absolute and outside the workspace/);
      assert.match(toolMessages[0]!, /path \\"\.\.\/secret\.txt\\" leaves the workspace/);
      assert.match(toolMessages[2]!, /path \\"link\.txt\\" leads outside the workspace through a symlink/);
      assert.match(toolMessages[4]!, /not a regular file: adir/);
      assert.match(toolMessages[5]!, /cannot open sub\/file\.txt/);
    } finally {
      await server.close();
    }
  });
});
