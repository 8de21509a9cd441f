import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'bin/marshal.js');
let ws: string;

before(async () => {
  if (process.env.MARSHAL_SKIP_BUILD !== '1' || !existsSync(join(root, 'dist/cli/main.js'))) {
    execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
  }
  ws = await mkdtemp(join(tmpdir(), 'marshal-mcp-serve-'));
  await mkdir(join(ws, '.git'));
  await writeFile(join(ws, '.git', 'config'), '[core]\n');
  await writeFile(join(ws, '.env'), 'SECRET=hunter2\n');
  await writeFile(join(ws, 'notes.txt'), 'plain notes\n');
});
after(async () => {
  await rm(ws, { recursive: true, force: true });
});

/** The SDK's own stdio client spawning the built CLI. */
async function connect(args: string[]): Promise<{ client: Client; transport: StdioClientTransport }> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [bin, 'mcp', 'serve', '--workspace', ws, ...args],
    cwd: ws,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', XDG_CONFIG_HOME: join(ws, 'xdg') },
    stderr: 'pipe',
  });
  const client = new Client({ name: 'test', version: '1' });
  await client.connect(transport);
  return { client, transport };
}

const text = (r: unknown) =>
  ((r as { content: Array<{ type: string; text?: string }> }).content ?? [])
    .map((c) => c.text ?? '')
    .join('');

describe('marshal mcp serve (SDK client over stdio, built CLI)', { timeout: 120_000 }, () => {
  it('lists the built-ins without write_file and mark_task_complete; calls run validated, confined', async () => {
    const { client } = await connect([]);
    try {
      const { tools } = await client.listTools();
      const names = tools.map((t) => t.name).sort();
      assert.deepEqual(names, ['calculate', 'read_file', 'search_web']);
      const read = tools.find((t) => t.name === 'read_file')!;
      assert.equal(read.inputSchema.type, 'object');
      assert.ok(Object.hasOwn(read.inputSchema.properties ?? {}, 'path'));

      const calc = await client.callTool({ name: 'calculate', arguments: { expression: '2**10' } });
      assert.equal(calc.isError, false);
      assert.match(text(calc), /1024/);

      const notes = await client.callTool({ name: 'read_file', arguments: { path: 'notes.txt' } });
      assert.equal(notes.isError, false);
      assert.match(text(notes), /plain notes/);

      const secret = await client.callTool({ name: 'read_file', arguments: { path: '.env' } });
      assert.equal(secret.isError, true);
      assert.doesNotMatch(text(secret), /hunter2/);

      const outside = await client.callTool({ name: 'read_file', arguments: { path: '../../etc/passwd' } });
      assert.equal(outside.isError, true);

      const bad = await client.callTool({ name: 'calculate', arguments: { expr: 1 } });
      assert.equal(bad.isError, true);
      assert.match(text(bad), /expression/);

      const unknown = await client.callTool({ name: 'write_file', arguments: { path: 'x', content: 'y' } });
      assert.equal(unknown.isError, true);
      assert.equal(existsSync(join(ws, 'x')), false);
    } finally {
      await client.close();
    }
  });

  it('--allow-write offers write_file, which still never writes under .git/ or over protected files', async () => {
    const { client, transport } = await connect(['--allow-write']);
    try {
      const { tools } = await client.listTools();
      assert.ok(tools.some((t) => t.name === 'write_file'));
      const ok = await client.callTool({
        name: 'write_file',
        arguments: { path: 'out.txt', content: 'written' },
      });
      assert.equal(ok.isError, false, text(ok));
      assert.equal(await readFile(join(ws, 'out.txt'), 'utf8'), 'written');
      const git = await client.callTool({
        name: 'write_file',
        arguments: { path: '.git/config', content: 'x' },
      });
      assert.equal(git.isError, true);
      assert.equal(await readFile(join(ws, '.git', 'config'), 'utf8'), '[core]\n');
      const env = await client.callTool({ name: 'write_file', arguments: { path: '.env', content: 'x' } });
      assert.equal(env.isError, true);
      assert.equal(await readFile(join(ws, '.env'), 'utf8'), 'SECRET=hunter2\n');
      const pid = transport.pid!;
      await client.close();
      // Closing the client (stdin) ends the server.
      assert.throws(() => process.kill(pid, 0));
    } finally {
      await client.close();
    }
  });
});
