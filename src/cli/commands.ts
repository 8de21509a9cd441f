import type { CommandSpec } from './command.ts';

/** A command's name and summary, with its full spec (and its modules) loaded only when it runs. */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<CommandSpec>;
}

/** The spec named `name` among a module's exported specs (for modules that export several). */
function pick(specs: readonly CommandSpec[], name: string): CommandSpec {
  const spec = specs.find((c) => c.name === name);
  if (!spec) throw new Error(`command module lacks ${name}`);
  return spec;
}

/**
 * Every command the CLI dispatches, in the order `marshal --help` lists them. A command is added
 * here only once it works end to end. Modules load on demand, so `marshal --version` and each
 * command start without compiling the others; `test/cli/commands.test.ts` checks that every
 * summary here equals its spec's.
 */
export const commands: readonly CommandEntry[] = [
  {
    name: 'heavy',
    summary: 'answer a question with N agents in parallel, then combine their answers',
    load: async () => (await import('./heavy.ts')).heavyCommand,
  },
  {
    name: 'ask',
    summary: 'answer a question with one tool-using agent (a REPL without a question)',
    load: async () => (await import('./ask.ts')).askCommand,
  },
  {
    name: 'tools list',
    summary: "list the agents' tools: built-ins, the tools directory and MCP servers' tools",
    load: async () => (await import('./tools.ts')).toolsListCommand,
  },
  {
    name: 'mcp serve',
    summary: "serve marshal's tools (built-ins and the tools directory) as an MCP server over stdio",
    load: async () => (await import('./mcp.ts')).mcpServeCommand,
  },
  {
    name: 'serve',
    summary: 'serve heavy as an OpenAI-compatible endpoint (models marshal-heavy and marshal-ask)',
    load: async () => (await import('./serve.ts')).serveCommand,
  },
  {
    name: 'supervise',
    summary: "keep an environment's server up: restarts, switches with rollback, crash-loop guard",
    load: async () => (await import('./supervise.ts')).superviseCommand,
  },
  {
    name: 'switch',
    summary: 'switch the supervised server to another environment (rolls back if it does not come up)',
    load: async () => (await import('./switch.ts')).switchCommand,
  },
  {
    name: 'status',
    summary: "show the workspace supervisor's state",
    load: async () => pick((await import('./supervisor-commands.ts')).supervisorCommands, 'status'),
  },
  {
    name: 'restart',
    summary: 'restart the supervised server (sync, start, readiness)',
    load: async () => pick((await import('./supervisor-commands.ts')).supervisorCommands, 'restart'),
  },
  {
    name: 'stop',
    summary: 'stop the supervisor and its server, and wait until they are gone',
    load: async () => pick((await import('./supervisor-commands.ts')).supervisorCommands, 'stop'),
  },
  {
    name: 'logs',
    summary: "show the supervisor's log (supervisor-switch.log)",
    load: async () => (await import('./supervisor-logs.ts')).logsCommand,
  },
  {
    name: 'train calibrate',
    summary: "measure every node's training throughput (examples/s)",
    load: async () => (await import('./train-calibrate.ts')).trainCalibrateCommand,
  },
  {
    name: 'train plan',
    summary: 'gather facts, run the pre-flight checklist and write a sealed training plan',
    load: async () => (await import('./train-plan.ts')).trainPlanCommand,
  },
  {
    name: 'train check',
    summary: 're-run the pre-flight checklist of a plan against the cluster as it is now',
    load: async () => (await import('./train-check.ts')).trainCheckCommand,
  },
  {
    name: 'train launch',
    summary: 'start every rank of a plan and write run-report.json',
    load: async () => (await import('./train-launch.ts')).trainLaunchCommand,
  },
  {
    name: 'train aggregate',
    summary: 'robustly aggregate worker vectors (krum, median, trimmed mean, ...)',
    load: async () => (await import('./train-aggregate.ts')).trainAggregateCommand,
  },
  {
    name: 'train schema',
    summary: 'print the JSON Schema of the training plan',
    load: async () => (await import('./train-schema.ts')).trainSchemaCommand,
  },
  {
    name: 'config schema',
    summary: 'print the JSON Schema of a config file',
    load: async () => (await import('./config-schema.ts')).configSchemaCommand,
  },
  {
    name: 'trust',
    summary: 'trust a marshal.yaml found in a directory (records its SHA-256; an edit untrusts it)',
    load: async () => (await import('./trust.ts')).trustCommand,
  },
];
