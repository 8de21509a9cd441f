import { readFileSync } from 'node:fs';
import {
  CORE_ERRORS,
  ExitCode,
  exitCodeFor,
  isAbortError,
  MarshalError,
  UsageError,
} from '../core/errors.ts';
import { sanitizeForTerminal } from '../core/log-hygiene.ts';
import { type CommandSpec, commandHelp, parseCommandArgs } from './command.ts';
import { type CommandEntry, commands as registeredCommands } from './commands.ts';
import type { Io } from './io.ts';
import { closest } from './suggest.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The package version. */
export const VERSION: string = pkg.version;

const EXIT_CODE_HELP: Array<[number, string]> = [
  [ExitCode.ok, 'success'],
  [ExitCode.failure, 'runtime failure'],
  [ExitCode.usage, 'usage, input or config error'],
  [ExitCode.noAnswer, 'no agent produced an answer (heavy, ask)'],
  [ExitCode.supervision, 'supervision failed: crash loop, or a switch that did not complete'],
  [ExitCode.preflight, 'training pre-flight failed (plan, check, launch)'],
  [ExitCode.busy, 'busy: another switch holds the lock'],
  [ExitCode.interrupted, 'interrupted (Ctrl-C or SIGTERM)'],
];

export interface MainOptions {
  /** Aborted when the process receives SIGINT or SIGTERM. */
  signal?: AbortSignal;
  /** Commands to dispatch (tests may pass their own): specs, or entries that load their spec on demand. */
  commands?: readonly (CommandSpec | CommandEntry)[];
}

/**
 * Runs the marshal CLI and resolves to the exit code. Never calls `process.exit` and touches no
 * global process state: everything goes through `io`.
 */
export async function main(argv: readonly string[], io: Io, options: MainOptions = {}): Promise<number> {
  const commands = (options.commands ?? registeredCommands).map(toEntry);
  const signal = options.signal ?? new AbortController().signal;
  const debug = argv.includes('--debug') || io.env.MARSHAL_DEBUG === '1';
  const args = [...argv];
  try {
    if (args.length === 0 || args[0] === '--help' || args[0] === '-h') {
      io.stdout.write(globalHelp(commands));
      return args.length === 0 ? ExitCode.usage : ExitCode.ok;
    }
    if (args[0] === '--version' || args[0] === '-V') {
      io.stdout.write(`${VERSION}\n`);
      return ExitCode.ok;
    }
    if (args[0] === 'help') return await help(args.slice(1), commands, io);
    if (args[0]?.startsWith('-') && args[0] !== '--debug') {
      throw new UsageError(`unknown option ${args[0]} (try marshal --help)`, {
        code: CORE_ERRORS.E_UNKNOWN_OPTION,
        details: { option: args[0] },
      });
    }
    const cmdArgs = args.filter((a, i) => !(a === '--debug' && i === 0));
    const { entry, rest } = resolveCommand(cmdArgs, commands);
    const spec = await entry.load();
    const parsed = parseCommandArgs(spec, rest);
    if (parsed.values.help) {
      io.stdout.write(commandHelp(spec));
      return ExitCode.ok;
    }
    signal.throwIfAborted();
    return await spec.run({ ...parsed, io, signal, debug });
  } catch (err) {
    reportError(err, io, debug);
    return err instanceof GroupHelp ? err.exit : exitCodeFor(err);
  }
}

/** A spec given directly becomes an entry that loads itself. */
function toEntry(c: CommandSpec | CommandEntry): CommandEntry {
  return 'load' in c ? c : { name: c.name, summary: c.summary, load: async () => c };
}

async function help(args: string[], commands: readonly CommandEntry[], io: Io): Promise<number> {
  if (args.length === 0) {
    io.stdout.write(globalHelp(commands));
    return ExitCode.ok;
  }
  const name = args.join(' ');
  const entry = commands.find((c) => c.name === name);
  if (entry) {
    io.stdout.write(commandHelp(await entry.load()));
    return ExitCode.ok;
  }
  const group = commands.filter((c) => c.name.startsWith(`${name} `));
  if (group.length > 0) {
    io.stdout.write(groupHelp(name, group));
    return ExitCode.ok;
  }
  throw unknownCommand(name, commands);
}

function resolveCommand(
  args: string[],
  commands: readonly CommandEntry[],
): { entry: CommandEntry; rest: string[] } {
  const first = args[0] ?? '';
  const second = args[1];
  if (second !== undefined && !second.startsWith('-')) {
    const sub = commands.find((c) => c.name === `${first} ${second}`);
    if (sub) return { entry: sub, rest: args.slice(2) };
  }
  const direct = commands.find((c) => c.name === first);
  if (direct) return { entry: direct, rest: args.slice(1) };
  const group = commands.filter((c) => c.name.startsWith(`${first} `));
  if (group.length > 0) {
    if (second === undefined || second === '--help' || second === '-h') {
      throw new GroupHelp(groupHelp(first, group), second === undefined ? ExitCode.usage : ExitCode.ok);
    }
    throw unknownCommand(`${first} ${second}`, group);
  }
  throw unknownCommand(first, commands);
}

/** Thrown to print a group's help (`marshal train`) with a given exit code. */
class GroupHelp extends Error {
  constructor(
    readonly text: string,
    readonly exit: number,
  ) {
    super('group help');
  }
}

function unknownCommand(name: string, commands: readonly CommandEntry[]): UsageError {
  const names = topLevelNames(commands).concat(commands.map((c) => c.name));
  const guess = closest(name, [...new Set(names)]);
  return new UsageError(
    `unknown command ${JSON.stringify(name)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}`,
    {
      code: CORE_ERRORS.E_UNKNOWN_COMMAND,
      details: { command: name, suggestion: guess },
      hint: 'run marshal --help',
    },
  );
}

function topLevelNames(commands: readonly CommandEntry[]): string[] {
  return [...new Set(commands.map((c) => c.name.split(' ')[0]!))];
}

function globalHelp(commands: readonly CommandEntry[]): string {
  const lines = [
    `marshal ${VERSION}: coordinate workers (agents, a server supervisor, distributed training)`,
    '',
    'Usage: marshal <command> [options]',
    '       marshal help <command>',
    '',
    'Commands:',
  ];
  const width = Math.max(12, ...commands.map((c) => c.name.length)) + 2;
  for (const c of commands) lines.push(`  ${c.name.padEnd(width)}${c.summary}`);
  if (commands.length === 0) lines.push('  (none yet)');
  lines.push(
    '',
    'Global options:',
    '  -h, --help       show help (also after any command)',
    '  -V, --version    print the version',
    '      --debug      print stack traces of unexpected errors (or MARSHAL_DEBUG=1)',
    '',
    'Exit codes:',
  );
  for (const [code, text] of EXIT_CODE_HELP) lines.push(`  ${String(code).padEnd(5)}${text}`);
  lines.push('', 'Commands that report accept --json: one JSON document on stdout, logs on stderr.');
  return `${lines.join('\n')}\n`;
}

function groupHelp(group: string, commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  const lines = [`Usage: marshal ${group} <command> [options]`, '', 'Commands:'];
  for (const c of commands) lines.push(`  ${c.name.padEnd(width)}${c.summary}`);
  lines.push('', `Run marshal help ${group} <command> for its options.`);
  return `${lines.join('\n')}\n`;
}

function reportError(err: unknown, io: Io, debug: boolean): void {
  if (err instanceof GroupHelp) {
    (err.exit === 0 ? io.stdout : io.stderr).write(err.text);
    return;
  }
  if (err instanceof MarshalError) {
    io.stderr.write(`marshal: ${sanitizeForTerminal(err.message)}\n`);
    if (err.hint) io.stderr.write(`  ${sanitizeForTerminal(err.hint)}\n`);
    if (debug && err.stack) io.stderr.write(`${err.stack}\n`);
    return;
  }
  if (isAbortError(err)) {
    io.stderr.write('marshal: interrupted\n');
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`marshal: unexpected error: ${sanitizeForTerminal(message)}\n`);
  if (debug) io.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  else io.stderr.write('  rerun with --debug (or MARSHAL_DEBUG=1) for the stack trace\n');
}
