/**
 * Test helpers for the supervisor: a temporary ComfyGit-layout workspace whose environments run
 * the fixture server (test/fixtures/supervisor/server.py), a free-port helper and bounded waits.
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  SupervisorEventRecord,
  SupervisorHandle,
  SupervisorOptions,
  SupervisorStatus,
} from '../../src/supervisor/index.ts';
import { startSupervisor, workspaceAt } from '../../src/supervisor/index.ts';

/** Absolute path of the fixture server. */
export const FIXTURE_SERVER = fileURLToPath(new URL('../fixtures/supervisor/server.py', import.meta.url));

/** The interpreter the fake venvs link to (any python3 runs the fixture). */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Ways an environment can be broken on purpose. */
export type BrokenKind =
  /** no `.venv/bin/python` */
  | 'missing-python'
  /** no `ComfyUI/main.py` */
  | 'missing-main'
  /** main.py exits 1 at once */
  | 'exit-1'
  /** listens but answers 500 */
  | 'unhealthy'
  /** never listens */
  | 'no-listen';

export interface EnvSpec {
  /** Extra FIXTURE_* (or any) variables main.py sets before running the fixture. */
  fixtureEnv?: Record<string, string>;
  broken?: BrokenKind;
  /** Raw text written to `environments/<name>/marshal-env.yaml`. */
  marshalEnvYaml?: string;
}

export interface TestWorkspace {
  root: string;
  metadataDir: string;
  envDir(name: string): string;
  cleanup(): Promise<void>;
}

/**
 * Builds `<tmp>/.metadata/` and, per environment, `environments/<name>/.venv/bin/python`
 * (symlink to /usr/bin/python3) and `environments/<name>/ComfyUI/main.py` (a wrapper that sets the
 * knobs and runs the fixture server).
 */
export async function makeWorkspace(options: { envs: Record<string, EnvSpec> }): Promise<TestWorkspace> {
  const root = await mkdtemp(join(tmpdir(), 'marshal-sup-'));
  const metadataDir = join(root, '.metadata');
  await mkdir(metadataDir, { recursive: true });
  const envDir = (name: string) => join(root, 'environments', name);
  for (const [name, spec] of Object.entries(options.envs)) {
    const dir = envDir(name);
    await mkdir(join(dir, '.venv', 'bin'), { recursive: true });
    await mkdir(join(dir, 'ComfyUI'), { recursive: true });
    if (spec.broken !== 'missing-python') await symlink(SYSTEM_PYTHON, join(dir, '.venv', 'bin', 'python'));
    if (spec.broken !== 'missing-main') await writeFile(join(dir, 'ComfyUI', 'main.py'), mainPy(name, spec));
    if (spec.marshalEnvYaml !== undefined)
      await writeFile(join(dir, 'marshal-env.yaml'), spec.marshalEnvYaml);
  }
  return {
    root,
    metadataDir,
    envDir,
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

function mainPy(name: string, spec: EnvSpec): string {
  if (spec.broken === 'exit-1') return 'import sys\nsys.exit(1)\n';
  const knobs: Record<string, string> = { FIXTURE_ENV_NAME: name, ...spec.fixtureEnv };
  if (spec.broken === 'unhealthy') knobs.FIXTURE_UNHEALTHY = '1';
  if (spec.broken === 'no-listen') knobs.FIXTURE_NO_LISTEN = '1';
  return [
    'import json, os, runpy, sys',
    `os.environ.update(json.loads(${JSON.stringify(JSON.stringify(knobs))}))`,
    `FIXTURE = ${JSON.stringify(FIXTURE_SERVER)}`,
    'sys.argv[0] = FIXTURE',
    'runpy.run_path(FIXTURE, run_name="__main__")',
    '',
  ].join('\n');
}

export { freePort } from '../helpers/free-port.ts';

/** Polls `check` every `intervalMs` until it returns a truthy value; throws after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => T | Promise<T>,
  { timeoutMs = 15_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** What the fixture reports about itself in /system_stats. */
export interface FixtureInfo {
  pid: number;
  pgid: number;
  env: string | null;
  port: number;
  supervised: Record<string, string | null>;
  argv: string[];
}

/** The fixture's /system_stats `fixture` block, or null when nothing healthy answers. */
export async function fixtureInfo(port: number): Promise<FixtureInfo | null> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/system_stats`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) return null;
    const body = (await res.json()) as { fixture: FixtureInfo };
    return body.fixture;
  } catch {
    return null;
  }
}

/** POSTs to a fixture control route (`/exit?code=N`, `/switch?target=X`). */
export async function fixturePost(port: number, pathAndQuery: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}${pathAndQuery}`, {
    method: 'POST',
    signal: AbortSignal.timeout(2000),
  });
  await res.text();
  return res.status;
}

/** True while a process with this pid runs (a zombie waiting to be reaped counts as gone). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export async function portOpen(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** The PID of a process that has exited (spawned and reaped here). */
export async function deadPid(): Promise<number> {
  const { spawn } = await import('node:child_process');
  const child = spawn('true', [], { stdio: 'ignore' });
  const pid = child.pid ?? 0;
  await new Promise((resolve) => child.once('exit', resolve));
  return pid;
}

/** A supervisor started on a test workspace with small intervals, recording its events and phases. */
export interface Harness {
  sup: SupervisorHandle;
  events: SupervisorEventRecord[];
  phases: string[];
  /** Waits until status() satisfies `pred`. */
  until(what: string, pred: (s: SupervisorStatus) => boolean, timeoutMs?: number): Promise<SupervisorStatus>;
  eventsOf<T extends SupervisorEventRecord['type']>(type: T): Extract<SupervisorEventRecord, { type: T }>[];
}

/** Fast settings for tests (every wait still bounded). */
export const FAST = {
  healthIntervalMs: 50,
  healthTimeoutMs: 15_000,
  graceMs: 1500,
  backoffMs: 50,
  backoffCapMs: 400,
  pollIntervalMs: 50,
  requestGraceMs: 1500,
  portFreeTimeoutMs: 5000,
} satisfies Partial<SupervisorOptions>;

export function harness(
  root: string,
  env: string,
  port: number,
  extra: Partial<SupervisorOptions> = {},
): Harness {
  const events: SupervisorEventRecord[] = [];
  const phases: string[] = [];
  const sup = startSupervisor({
    workspace: workspaceAt(root),
    env,
    serverArgs: ['--port', String(port)],
    ...FAST,
    ...extra,
    onEvent: (e) => {
      events.push(e);
      if (e.type === 'state' && phases[phases.length - 1] !== e.phase) phases.push(e.phase);
      extra.onEvent?.(e);
    },
  });
  return {
    sup,
    events,
    phases,
    until: (what, pred, timeoutMs = 20_000) =>
      waitFor(
        what,
        () => {
          const s = sup.status();
          return pred(s) ? s : null;
        },
        { timeoutMs, intervalMs: 25 },
      ),
    eventsOf: (type) => events.filter((e) => e.type === type) as never,
  };
}
