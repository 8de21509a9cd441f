/** The frame's help texts: `marshal`, `marshal --help`, `marshal help`, and a group's help. */
import { ExitCode } from '../core/index.ts';
import type { CommandEntry } from './commands.ts';

const EXIT_CODE_HELP: Array<[number, string]> = [
  [ExitCode.ok, 'success'],
  [ExitCode.failure, 'runtime failure'],
  [ExitCode.usage, 'usage, input or config error'],
  [ExitCode.noAnswer, 'no agent produced an answer (heavy, ask)'],
  [ExitCode.supervision, 'supervision failed: crash loop, or a switch that did not complete'],
  [ExitCode.preflight, 'training pre-flight failed (plan, check, launch)'],
  [ExitCode.busy, 'busy: another switch holds the lock'],
  [ExitCode.interrupted, 'interrupted (Ctrl-C or SIGTERM), from every command'],
];

/** The global help, printed on stdout with exit 0 by `marshal`, `marshal --help` and `marshal help`. */
export function globalHelp(version: string, commands: readonly CommandEntry[]): string {
  const lines = [
    `marshal ${version}: coordinate workers (agents, a server supervisor, distributed training)`,
    '',
    'Usage: marshal <command> [options]',
    '       marshal help <command>',
    '       marshal               (no arguments: this help, exit 0)',
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
  lines.push(
    '',
    'Commands that report accept --json: one JSON document on stdout, logs on stderr. On failure',
    'the document is {"error": {"code", "message", ...details, "hint"}} with the same exit code.',
    'Numbers in options are decimal (no 0x, exponents or signs other than -). A closed stdout',
    '(marshal ... | head) ends quietly with exit 0.',
  );
  return `${lines.join('\n')}\n`;
}

/** The help of a command group (`marshal train`). */
export function groupHelp(group: string, commands: readonly CommandEntry[]): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  const lines = [`Usage: marshal ${group} <command> [options]`, '', 'Commands:'];
  for (const c of commands) lines.push(`  ${c.name.padEnd(width)}${c.summary}`);
  lines.push('', `Run marshal help ${group} <command> for its options.`);
  return `${lines.join('\n')}\n`;
}
