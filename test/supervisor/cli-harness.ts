/**
 * Runs the real CLI (`node bin/marshal.js ...`) as child processes for the supervisor's end-to-end
 * tests: one-shot commands with a bounded wait, and long-running `supervise` processes that a
 * test can signal and await. Every process started here is tracked and killed by `killAll()`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type TestWorkspace, waitFor } from './helpers.ts';

export const BIN = fileURLToPath(new URL('../../bin/marshal.js', import.meta.url));

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Fast timings for tests (seconds, as the CLI takes them). */
export const FAST = ['--health-interval=0.05', '--health-timeout=10', '--grace=1', '--backoff=0.05'];

/** The environment of a CLI child: no inherited supervision markers or workspace hints. */
export function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, MARSHAL_CONTROL_PORTS: '0', NO_COLOR: '1' };
  for (const key of ['MARSHAL_SUPERVISED', 'COMFYGIT_SUPERVISED', 'COMFYGIT_HOME', 'MARSHAL_WORKSPACE'])
    delete env[key];
  return { ...env, ...extra };
}

const started = new Set<ChildProcess>();

export interface CliProcess {
  proc: ChildProcess;
  pid: number;
  out(): string;
  err(): string;
  exited: Promise<CliResult>;
}

/** Starts `marshal <args>` and returns at once. */
export function startCli(args: string[], env: NodeJS.ProcessEnv = cliEnv()): CliProcess {
  const proc = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  started.add(proc);
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  proc.stderr!.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const exited = new Promise<CliResult>((resolve) => {
    proc.on('close', (code, signal) => {
      started.delete(proc);
      resolve({ code, signal, stdout, stderr });
    });
  });
  return { proc, pid: proc.pid!, out: () => stdout, err: () => stderr, exited };
}

/** Runs `marshal <args>` to completion (killed after `timeoutMs`). */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv = cliEnv(),
  timeoutMs = 60_000,
): Promise<CliResult> {
  const p = startCli(args, env);
  const timer = setTimeout(() => p.proc.kill('SIGKILL'), timeoutMs);
  try {
    return await p.exited;
  } finally {
    clearTimeout(timer);
  }
}

/** `marshal status --json` parsed. */
export async function statusJson(root: string): Promise<{
  running: boolean;
  pid: number | null;
  environment: string | null;
  childPid: number | null;
  state: string;
  restarts: number | null;
  switchStatus: { state: string; target_env?: string | null } | null;
}> {
  const r = await runCli(['status', '--json', `--workspace=${root}`]);
  if (r.code !== 0) throw new Error(`status exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

/** Starts `marshal supervise` on environment `env` of `root` with the fast test timings, serving on `port`. */
export function startSupervise(root: string, env: string, port: number): CliProcess {
  return startCli([
    'supervise',
    `--workspace=${root}`,
    `--env=${env}`,
    ...FAST,
    '--',
    '--port',
    String(port),
  ]);
}

/** Waits until `marshal status` reports a running child (other than `notChild` when given). */
export function waitRunning(
  root: string,
  notChild?: number | null,
): Promise<Awaited<ReturnType<typeof statusJson>>> {
  return waitFor('running', async () => {
    const s = await statusJson(root);
    return s.state === 'running' && s.childPid !== null && s.childPid !== notChild ? s : null;
  });
}

/** The supervisor pid recorded in `.metadata/.orchestrator.pid`, if any. */
export async function recordedSupervisorPid(root: string): Promise<number | undefined> {
  const text = await readFile(join(root, '.metadata', '.orchestrator.pid'), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // A plain decimal pid (what ComfyGit reads); an older JSON record ({pid, ...}) still reads.
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) || undefined;
  try {
    return (JSON.parse(text) as { pid: number }).pid;
  } catch {
    return undefined;
  }
}

/** Kills every CLI process still running (test cleanup; their process groups too when detached). */
export function killAll(): void {
  for (const proc of started) proc.kill('SIGKILL');
  started.clear();
}

/** Sends `sig` to `pid` if it exists; true when sent. */
export function signal(pid: number, sig: NodeJS.Signals): boolean {
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

/**
 * Pids of the non-zombie processes in process group `pgid` (from /proc). Zombies are ignored:
 * an orphan reparented to an init that does not reap (as in some containers) is already dead.
 */
export async function liveGroupMembers(pgid: number): Promise<number[]> {
  const { readdir } = await import('node:fs/promises');
  const { readFileSync } = await import('node:fs');
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    // Synchronous: a /proc file reads in microseconds; fs/promises costs thread-pool round trips.
    let stat = '';
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      // gone
    }
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] = state (field 3), fields[2] = pgrp (field 5)
    if (fields[2] === String(pgid) && fields[0] !== 'Z') out.push(Number(name));
  }
  return out;
}

/**
 * Stops whatever supervisor a test left running in `root` (SIGTERM, then SIGKILL after 5 s, and
 * its server's process group), so a failing test leaves no stray detached process behind.
 */
export async function stopLeftovers(root: string): Promise<void> {
  const text = await readFile(join(root, '.metadata', '.orchestrator.pid.marshal.json'), 'utf8').catch(
    () => undefined,
  );
  if (text === undefined) return;
  let record: { pid?: number; childPgid?: number | null } = {};
  try {
    record = JSON.parse(text);
  } catch {
    return;
  }
  const { pid, childPgid } = record;
  if (typeof pid !== 'number' || pid === process.pid) return;
  if (signal(pid, 'SIGTERM')) {
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && signal(pid, 0 as unknown as NodeJS.Signals)) {
      await new Promise((r) => setTimeout(r, 50));
    }
    signal(pid, 'SIGKILL');
  }
  if (typeof childPgid === 'number' && childPgid > 1) signal(-childPgid, 'SIGKILL');
}

/**
 * Registers, for the calling test file, one `after` hook that kills every CLI child and every
 * supervisor pid pushed to `pids`, stops what is left in each workspace pushed to `workspaces`,
 * and removes them.
 */
export function cleanupAfter(): { workspaces: TestWorkspace[]; pids: number[] } {
  const state = { workspaces: [] as TestWorkspace[], pids: [] as number[] };
  after(async () => {
    killAll();
    for (const pid of state.pids) signal(pid, 'SIGKILL');
    for (const w of state.workspaces) {
      await stopLeftovers(w.root);
      await w.cleanup();
    }
  });
  return state;
}
