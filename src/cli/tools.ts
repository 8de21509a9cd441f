/**
 * `marshal tools list`: every tool an agent of this configuration gets: the built-ins (write_file
 * only with --allow-write), the tools directory, and the tools of the configured MCP servers
 * (`mcp.servers`, started for the listing and stopped again), with where each comes from.
 */
import { createToolSet, type ToolSet } from '../agents/index.ts';
import { ExitCode, sanitizeForTerminal } from '../core/index.ts';
import { AGENT_OPTIONS, loadSettings, toolWarning, withFlagNames } from './agent-setup.ts';
import type { CommandSpec } from './command.ts';
import { printJson } from './io.ts';

/** The options of `heavy` that decide which tools exist. */
export const TOOL_OPTIONS = {
  config: AGENT_OPTIONS.config!,
  workspace: AGENT_OPTIONS.workspace!,
  'tools-dir': AGENT_OPTIONS['tools-dir']!,
  'allow-write': AGENT_OPTIONS['allow-write']!,
  'allow-secret-files': AGENT_OPTIONS['allow-secret-files']!,
};

export const toolsListCommand: CommandSpec = {
  name: 'tools list',
  summary: "list the agents' tools: built-ins, the tools directory and MCP servers' tools",
  usage: 'tools list [options]',
  description: [
    'Lists the tools an agent gets with these options and the config: name, source (builtin,',
    'tools-dir, mcp:SERVER) and description. MCP servers of the config (mcp.servers) are started to',
    'list their tools and stopped again; a server that fails is reported on stderr and left out.',
  ].join('\n'),
  options: {
    ...TOOL_OPTIONS,
    json: { type: 'boolean', description: 'print one JSON document: name, source, description, parameters' },
  },
  examples: [
    'marshal tools list',
    'marshal tools list --allow-write --json',
    'marshal tools list -c marshal.yaml',
  ],
  exitCodes: [
    [0, 'listed'],
    [2, 'usage or config error (a bad tools directory, an invalid mcp.servers entry)'],
  ],
  run: async (ctx) => {
    const { settings } = await loadSettings(ctx);
    let set: ToolSet;
    try {
      set = await createToolSet(settings, {
        env: ctx.io.env,
        onToolSkipped: toolWarning(ctx),
        signal: ctx.signal,
      });
    } catch (error) {
      throw withFlagNames(error);
    }
    try {
      const specs = set.tools.specs();
      if (ctx.values.json === true) {
        printJson(ctx.io, {
          tools: specs.map((t) => ({
            name: t.name,
            source: set.toolSources[t.name] ?? 'builtin',
            description: t.description,
            parameters: t.parameters,
          })),
        });
        return ExitCode.ok;
      }
      const width = Math.max(4, ...specs.map((t) => t.name.length));
      const srcWidth = Math.max(6, ...specs.map((t) => (set.toolSources[t.name] ?? '').length));
      for (const t of specs) {
        const first = t.description.split('\n')[0] ?? '';
        ctx.io.stdout.write(
          `${sanitizeForTerminal(t.name.padEnd(width))}  ${(set.toolSources[t.name] ?? 'builtin').padEnd(srcWidth)}  ${sanitizeForTerminal(first)}\n`,
        );
      }
      return ExitCode.ok;
    } finally {
      await set.close();
    }
  },
};
