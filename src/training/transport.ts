/**
 * The worker transport: how a command reaches a node. Two adapters behind one shape:
 *
 * - `local`: the argv runs as is, in the node's workdir, with the extra env merged in.
 * - ssh: `ssh [-F <config>] -o BatchMode=yes -o ConnectTimeout=.. -o ServerAliveInterval=..
 *   -o ServerAliveCountMax=.. <dest> -- <remote command>`. The remote side of ssh always hands
 *   the command to a shell, so every word goes through core `quoteShellWord` (single quotes
 *   unless the word is made only of characters no POSIX shell interprets; `'` becomes `'\''`) and
 *   the command is `cd <workdir> && exec env K=V ... <argv0> <argv1> ...`. BatchMode makes a
 *   missing key fail at once instead of prompting; ServerAlive* makes a silent link (a host that
 *   went away) end ssh with exit 255 after interval x count seconds. The destination is validated
 *   (`user@host`, no leading `-`) so it can never be read as an ssh option.
 *
 * Killing a local ssh client does not signal the remote command (without a terminal sshd sends
 * no SIGHUP). So a long-running remote process (a rank) can be started `tied` to its session:
 * a small Python supervisor on the node starts it in its own process group and stops that group
 * (SIGTERM, grace, SIGKILL) as soon as its stdin reaches EOF, which happens when the coordinator
 * closes the pipe, when the local ssh dies, or when sshd drops the connection.
 *
 * Locally nothing ever runs through a shell: argv arrays only.
 */
import { InvalidInputError } from '../core/errors.ts';
import { quoteShellWord } from '../core/shell-quote.ts';

/** How marshal runs ssh (the cluster file's `ssh:` section; also used for rsync and mpirun). */
export interface SshOptions {
  /** An ssh_config file passed as `-F` (absolute), or null for ssh's own defaults (~/.ssh/config). */
  config: string | null;
  /** ConnectTimeout: seconds before an unreachable host fails. */
  connect_timeout_s: number;
  /** ServerAliveInterval: seconds of silence before ssh probes the server. */
  server_alive_interval_s: number;
  /** ServerAliveCountMax: unanswered probes before ssh gives up (exit 255). */
  server_alive_count_max: number;
}

export const DEFAULT_SSH_OPTIONS: SshOptions = {
  config: null,
  connect_timeout_s: 10,
  server_alive_interval_s: 5,
  server_alive_count_max: 3,
};

/** A node as far as the transport cares. */
export interface TransportNode {
  host: string;
  transport: 'local' | 'ssh';
  workdir: string;
  /** ssh settings (ssh nodes); {@link DEFAULT_SSH_OPTIONS} when absent. */
  ssh?: SshOptions | undefined;
}

/** A command ready to spawn on the coordinator. */
export interface PreparedCommand {
  argv: string[];
  /** Directory to run in on the coordinator (the workdir for local nodes; undefined for ssh). */
  cwd: string | undefined;
  /** Extra environment for the coordinator-side process (empty for ssh: it travels in the command). */
  env: Record<string, string>;
  /**
   * 'pipe' for a tied remote command: spawn it with a stdin pipe and keep it open while the
   * command should run; ending it stops the remote process group. 'ignore' (the default) otherwise.
   */
  stdin?: 'ignore' | 'pipe';
}

export interface PrepareOptions {
  /**
   * Tie the remote command to its ssh session through this python on the node (see the module
   * comment); `graceS` is the SIGTERM-to-SIGKILL grace there. Ignored for local nodes, whose
   * processes the coordinator stops directly.
   */
  tie?: { python: string; graceS?: number };
}

const SSH_DESTINATION =
  /^(?:[A-Za-z0-9_][A-Za-z0-9._-]{0,63}@)?[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?$/;

/** True for `host`, `user@host`, `user@10.0.0.2`: never a leading `-`, no spaces or shell characters. */
export function isSshDestination(value: string): boolean {
  return SSH_DESTINATION.test(value);
}

/**
 * The ssh client with marshal's options, without a destination: what every ssh node command,
 * the sync script's rsync (`MARSHAL_RSH`) and mpirun's launch agent run.
 */
export function sshCommand(options: SshOptions = DEFAULT_SSH_OPTIONS): string[] {
  return [
    'ssh',
    ...(options.config ? ['-F', options.config] : []),
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${options.connect_timeout_s}`,
    '-o',
    `ServerAliveInterval=${options.server_alive_interval_s}`,
    '-o',
    `ServerAliveCountMax=${options.server_alive_count_max}`,
  ];
}

/** Exit status ssh itself uses for its own failures (connection refused, lost, auth). */
export const SSH_FAILURE_EXIT = 255;

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

/**
 * The node-side supervisor of a tied command (stdlib only, Python 3.6+): runs argv[2:] in its own
 * session, stops that group when stdin ends or on SIGTERM/SIGINT/SIGHUP, kills what is left of
 * the group once the command exited, and exits with its status (128 + N for signal N).
 */
export const TIE_PROGRAM = `import os, signal, subprocess, sys, threading
grace = float(sys.argv[1])
child = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, start_new_session=True)
def stop(sig):
    try:
        os.killpg(child.pid, sig)
    except OSError:
        pass
def stop_group(*_):
    stop(signal.SIGTERM)
    try:
        child.wait(grace)
    except subprocess.TimeoutExpired:
        stop(signal.SIGKILL)
def watch():
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    stop_group()
threading.Thread(target=watch, daemon=True).start()
for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(s, lambda n, f: threading.Thread(target=stop_group, daemon=True).start())
code = child.wait()
stop(signal.SIGKILL)
sys.exit(code if code >= 0 else 128 - code)
`;

/** Prepares `argv` (with extra `env`) to run on `node`, through the node's transport. */
export function prepareCommand(
  node: TransportNode,
  argv: readonly string[],
  env: Readonly<Record<string, string>> = {},
  options: PrepareOptions = {},
): PreparedCommand {
  if (argv.length === 0) throw new InvalidInputError('argv', argv, 'a non-empty command');
  if (node.transport === 'local') {
    return { argv: [...argv], cwd: node.workdir, env: { ...env }, stdin: 'ignore' };
  }
  if (!isSshDestination(node.host)) {
    throw new InvalidInputError('host', node.host, 'an ssh destination of the form user@host');
  }
  const tie = options.tie;
  const remoteArgv = tie ? [tie.python, '-c', TIE_PROGRAM, String(tie.graceS ?? 5), ...argv] : [...argv];
  return {
    argv: [...sshCommand(node.ssh), node.host, '--', remoteCommand(node.workdir, remoteArgv, env)],
    cwd: undefined,
    env: {},
    stdin: tie ? 'pipe' : 'ignore',
  };
}
