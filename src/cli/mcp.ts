/**
 * `marshal mcp serve`: marshal's own tools as an MCP server over stdio (JSON-RPC on stdin/stdout,
 * nothing else on stdout). The same safety settings as `heavy`: write_file only with
 * --allow-write (never under .git/ or over protected files), read_file refuses protected files
 * without --allow-secret-files, search_web reaches public addresses only. The Claude Code
 * provider starts it; so can any MCP client.
 */
import { readFileSync } from 'node:fs';
import { createToolSet, serveToolsOverMcp, type ToolSet } from '../agents/index.ts';
import { ExitCode } from '../core/index.ts';
import { loadSettings, toolWarning, withFlagNames } from './agent-setup.ts';
import type { CommandSpec } from './command.ts';
import { TOOL_OPTIONS } from './tools.ts';

/** The package version (src/cli and dist/cli are both two levels below package.json). */
function packageVersion(): string {
  return (
    JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  ).version;
}

export const mcpServeCommand: CommandSpec = {
  name: 'mcp serve',
  summary: "serve marshal's tools (built-ins and the tools directory) as an MCP server over stdio",
  usage: 'mcp serve [options]',
  description: [
    'Speaks MCP (JSON-RPC, newline-delimited) on stdin/stdout until stdin closes or SIGINT/SIGTERM.',
    'Serves the built-in tools and the tools directory (not mark_task_complete), with the safety',
    'settings of `heavy`: write_file only with --allow-write. With --proxy-mcp it also serves the',
    "tools of the config's mcp.servers as SERVER__TOOL, starting those servers (the Claude Code",
    'provider uses this to give claude the same tools as the other agents). Warnings go to stderr.',
  ].join('\n'),
  options: {
    ...TOOL_OPTIONS,
    'proxy-mcp': {
      type: 'boolean',
      description: "also serve the tools of the config's mcp.servers (SERVER__TOOL)",
      defaultText: 'off',
    },
  },
  examples: [
    'marshal mcp serve --workspace ./project',
    '{"mcpServers": {"marshal": {"command": "marshal", "args": ["mcp", "serve", "--workspace", "/abs/project"]}}}',
  ],
  exitCodes: [
    [0, 'the client disconnected'],
    [2, 'usage or config error'],
    [130, 'interrupted'],
  ],
  run: async (ctx) => {
    const { settings } = await loadSettings(ctx);
    let set: ToolSet;
    try {
      set = await createToolSet(settings, {
        env: ctx.io.env,
        onToolSkipped: toolWarning(ctx),
        mcp: ctx.values['proxy-mcp'] === true,
      });
    } catch (error) {
      throw withFlagNames(error);
    }
    try {
      await serveToolsOverMcp(set.tools, {
        input: ctx.io.stdin,
        output: ctx.io.stdout,
        workspace: settings.workspace,
        signal: ctx.signal,
        version: packageVersion(),
      });
    } finally {
      await set.close();
    }
    return ExitCode.ok;
  },
};
