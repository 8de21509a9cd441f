/**
 * Helpers for the descendant and watchdog tests: a workspace whose environments run the
 * daemonizing fixture (test/fixtures/supervisor/daemonizing-server.py), the helper's identity
 * from its pid file, a bind check for a port and the watchdog processes of a supervisor.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FIXTURE_SERVER, makeWorkspace, pidExists, type TestWorkspace, waitFor } from './helpers.ts';

export const DAEMON_FIXTURE = fileURLToPath(
  new URL('../fixtures/supervisor/daemonizing-server.py', import.meta.url),
);

/** The helper's "<pid> <sid> <pgid>" from its pid file, once it is there. */
export async function readHelper(
  file: string,
  notPid?: number,
): Promise<{ pid: number; sid: number; pgid: number }> {
  return waitFor('the daemonized helper', async () => {
    const text = await readFile(file, 'utf8').catch(() => '');
    const [pid, sid, pgid] = text.trim().split(' ').map(Number);
    if (!pid || !sid || !pgid || pid === notPid) return null;
    return { pid, sid, pgid };
  });
}

/** True when nothing holds 127.0.0.1:port (we can bind it ourselves). */
export async function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** A workspace whose environments run the daemonizing fixture instead of the plain one. */
export async function daemonWorkspace(
  envs: string[],
  fixtureEnv: Record<string, string> = {},
): Promise<TestWorkspace> {
  const ws = await makeWorkspace({
    envs: Object.fromEntries(
      envs.map((e) => [e, { fixtureEnv: { FIXTURE_DAEMON_PIDFILE: 'DAEMON', ...fixtureEnv } }]),
    ),
  });
  for (const e of envs) {
    const main = join(ws.envDir(e), 'ComfyUI', 'main.py');
    const text = await readFile(main, 'utf8');
    await writeFile(main, text.replace(JSON.stringify(FIXTURE_SERVER), JSON.stringify(DAEMON_FIXTURE)));
  }
  return ws;
}

/** Pids of watchdog processes guarding supervisor `pid`. */
export function watchdogsOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = argv.indexOf('--supervisor');
    if (argv.includes('marshal-watchdog') && argv[i + 1] === String(pid) && pidExists(Number(name)))
      out.push(Number(name));
  }
  return out;
}
