/**
 * The CLI frame: `main(argv, io)` dispatches to a command and resolves to the exit code. The
 * conventions every command inherits from here, whatever it does:
 *
 * - errors: one line (and a hint) on stderr; with `--json` also exactly one JSON document on
 *   stdout, `{"error": {code, message, ...details, hint?}}` (error-report.ts), unless the command
 *   already printed its document through `printJson`; the exit code is the same either way;
 * - interrupts: when the run's signal was aborted (SIGINT/SIGTERM), the exit code is 130, whether
 *   the command threw, returned 0 after a clean stop (`supervise`, `logs -f`) or anything else;
 * - a closed stdout (EPIPE) aborts the run and ends it quietly with exit 0 (stdout-watch.ts);
 * - options marked `output` are checked with `assertWritableOutput` before the command runs.
 */
import { readFileSync } from 'node:fs';
import {
  AbortedError,
  abortedErrorFrom,
  assertWritableOutput,
  CORE_ERRORS,
  deadline,
  ExitCode,
  exitCodeFor,
  isAbortError,
  UsageError,
} from '../core/index.ts';
import { type CommandSpec, commandHelp, type ParsedArgs, parseCommandArgs } from './command.ts';
import { type CommandEntry, commands as registeredCommands } from './commands.ts';
import { GroupHelp, reportError } from './error-report.ts';
import { globalHelp, groupHelp } from './help-text.ts';
import { forgetDocument, hasPrintedDocument, type Io } from './io.ts';
import { watchStdout } from './stdout-watch.ts';
import { closest } from './suggest.ts';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/** The package version. */
export const VERSION: string = pkg.version;

export interface MainOptions {
  /** Aborted when the process receives SIGINT or SIGTERM. */
  signal?: AbortSignal;
  /** Commands to dispatch (tests may pass their own): specs, or entries that load their spec on demand. */
  commands?: readonly (CommandSpec | CommandEntry)[];
}

/**
 * Runs the marshal CLI and resolves to the exit code. Never calls `process.exit` and touches no
 * global process state: everything goes through `io`.
 *
 * @example
 * process.exitCode = await main(process.argv.slice(2), io, { signal: controller.signal });
 */
export async function main(argv: readonly string[], io: Io, options: MainOptions = {}): Promise<number> {
  const commands = (options.commands ?? registeredCommands).map(toEntry);
  const interrupt = options.signal ?? new AbortController().signal;
  const debug = argv.includes('--debug') || io.env.MARSHAL_DEBUG === '1';
  const json = wantsJson(argv);
  const stdout = watchStdout(io.stdout);
  // The command's signal: the interrupt or a closed stdout, linked without a composite signal.
  const run = deadline(undefined, [interrupt, stdout.signal], 'command');
  forgetDocument(io);
  let code: number;
  let failure: unknown;
  try {
    code = await dispatch([...argv], io, commands, run.signal, debug);
  } catch (err) {
    if (err instanceof GroupHelp && err.exit === ExitCode.ok) {
      io.stdout.write(err.text); // `marshal train --help`: help asked for, not an error
      code = ExitCode.ok;
    } else {
      failure = err;
      code = err instanceof GroupHelp ? err.exit : exitCodeFor(err);
    }
  } finally {
    run.clear();
  }
  // An EPIPE from the last write arrives on a later tick: let it land before deciding.
  await new Promise<void>((resolve) => setImmediate(resolve));
  if (stdout.closedByReader) return ExitCode.ok;
  if (stdout.failure) {
    io.stderr.write(`marshal: cannot write to stdout: ${stdout.failure.message}\n`);
    return ExitCode.failure;
  }
  if (interrupt.aborted) {
    // Every command ends with 130 once interrupted, including those that stop cleanly and return 0.
    const shown =
      failure !== undefined && !isAbortError(failure)
        ? failure
        : new AbortedError('interrupted', { cause: interrupt.reason });
    if (failure !== undefined || (json && !hasPrintedDocument(io))) reportError(shown, io, { debug, json });
    return ExitCode.interrupted;
  }
  if (failure !== undefined) reportError(failure, io, { debug, json });
  return code;
}

async function dispatch(
  args: string[],
  io: Io,
  commands: readonly CommandEntry[],
  signal: AbortSignal,
  debug: boolean,
): Promise<number> {
  if (args.length === 0 || args[0] === '--help' || args[0] === '-h') {
    io.stdout.write(globalHelp(VERSION, commands));
    return ExitCode.ok;
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
  await checkOutputs(spec, parsed, io);
  if (signal.aborted) throw abortedErrorFrom(signal);
  return await spec.run({ ...parsed, io, signal, debug });
}

/** `--json` anywhere before `--`: errors found while parsing get the document too. */
function wantsJson(argv: readonly string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).some((a) => a === '--json' || a.startsWith('--json='));
}

/** Options marked `output` must name a writable regular file before any work starts. */
async function checkOutputs(spec: CommandSpec, parsed: ParsedArgs, io: Io): Promise<void> {
  for (const [name, option] of Object.entries(spec.options)) {
    if (option.output !== true) continue;
    const value = parsed.values[name];
    for (const path of Array.isArray(value) ? value : typeof value === 'string' ? [value] : []) {
      await assertWritableOutput(path, `--${name}`, { cwd: io.cwd });
    }
  }
}

/** A spec given directly becomes an entry that loads itself. */
function toEntry(c: CommandSpec | CommandEntry): CommandEntry {
  return 'load' in c ? c : { name: c.name, summary: c.summary, load: async () => c };
}

async function help(args: string[], commands: readonly CommandEntry[], io: Io): Promise<number> {
  if (args.length === 0) {
    io.stdout.write(globalHelp(VERSION, commands));
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
    if (second === undefined || second.startsWith('-')) {
      // `marshal train` and `marshal train --json`: usage (exit 2); `marshal train --help`: exit 0.
      const exit = second === '--help' || second === '-h' ? ExitCode.ok : ExitCode.usage;
      throw new GroupHelp(groupHelp(first, group), exit, first);
    }
    throw unknownCommand(`${first} ${second}`, group);
  }
  throw unknownCommand(first, commands);
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
