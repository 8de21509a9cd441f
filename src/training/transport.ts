/**
 * The worker transport: how a command reaches a node. Two adapters behind one shape:
 *
 * - `local`: the argv runs as is, in the node's workdir, with the extra env merged in.
 * - ssh: `ssh -o BatchMode=yes <dest> -- <remote command>`. The remote side of ssh always hands
 *   the command to a shell, so every word goes through core `quoteShellWord` (single quotes
 *   unless the word is made only of characters no POSIX shell interprets; `'` becomes `'\''`) and
 *   the command is `cd <workdir> && exec env K=V ... <argv0> <argv1> ...`. BatchMode makes a
 *   missing key fail at once instead of prompting. The destination is validated (`user@host`,
 *   no leading `-`) so it can never be read as an ssh option.
 *
 * Locally nothing ever runs through a shell: argv arrays only.
 */
import { InvalidInputError } from '../core/errors.ts';
import { quoteShellWord } from '../core/shell-quote.ts';

/** A node as far as the transport cares. */
export interface TransportNode {
  host: string;
  transport: 'local' | 'ssh';
  workdir: string;
}

/** A command ready to spawn on the coordinator. */
export interface PreparedCommand {
  argv: string[];
  /** Directory to run in on the coordinator (the workdir for local nodes; undefined for ssh). */
  cwd: string | undefined;
  /** Extra environment for the coordinator-side process (empty for ssh: it travels in the command). */
  env: Record<string, string>;
}

const SSH_DESTINATION =
  /^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,63}@)?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$/;

/** True for `host`, `user@host`, `user@10.0.0.2`: never a leading `-`, no spaces or shell characters. */
export function isSshDestination(value: string): boolean {
  return SSH_DESTINATION.test(value);
}

/** One word of the remote command; a NUL byte cannot travel through a shell command string. */
function remoteWord(word: string): string {
  if (word.includes('\0')) throw new InvalidInputError('argv', word, 'no NUL bytes in a remote argument');
  return quoteShellWord(word);
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The remote shell command an ssh node runs: `cd <workdir> && exec env K=V ... argv...`. */
export function remoteCommand(
  workdir: string,
  argv: readonly string[],
  env: Readonly<Record<string, string>>,
): string {
  const assignments = Object.entries(env).map(([k, v]) => {
    if (!ENV_NAME.test(k)) throw new InvalidInputError('env', k, 'a valid environment variable name');
    return remoteWord(`${k}=${v}`);
  });
  const words = [...(assignments.length > 0 ? ['env', ...assignments] : []), ...argv.map(remoteWord)];
  return `cd ${remoteWord(workdir)} && exec ${words.join(' ')}`;
}

/** Prepares `argv` (with extra `env`) to run on `node`, through the node's transport. */
export function prepareCommand(
  node: TransportNode,
  argv: readonly string[],
  env: Readonly<Record<string, string>> = {},
): PreparedCommand {
  if (argv.length === 0) throw new InvalidInputError('argv', argv, 'a non-empty command');
  if (node.transport === 'local') return { argv: [...argv], cwd: node.workdir, env: { ...env } };
  if (!isSshDestination(node.host)) {
    throw new InvalidInputError('host', node.host, 'an ssh destination of the form user@host');
  }
  return {
    argv: ['ssh', '-o', 'BatchMode=yes', node.host, '--', remoteCommand(node.workdir, argv, env)],
    cwd: undefined,
    env: {},
  };
}
