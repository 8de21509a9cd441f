/**
 * Starting a supervisor as a client: the checks that keep supervisors from nesting or competing
 * for one workspace, and the detached start used by `supervise --detach` and by a lazy switch.
 */
import { MarshalError } from '../core/errors.ts';
import { type ClientEnv, controlEndpointOf, isSupervisedProcess, liveSupervisor } from './client-context.ts';
import { controlHealthy } from './control-client.ts';
import { spawnDetached } from './detach.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';
import { readPlainPid } from './pid-writer.ts';
import type { MetadataPaths } from './protocol.ts';
import { type SettingName, settingsArgs } from './settings.ts';
import type { Workspace } from './workspace.ts';

/** Refuses a second supervisor: nested under one (E_NESTED_SUPERVISION), or one owns the workspace. */
export async function assertMayStart(env: ClientEnv, paths: MetadataPaths): Promise<void> {
  if (isSupervisedProcess(env)) {
    throw new MarshalError(
      SUPERVISOR_ERRORS.E_NESTED_SUPERVISION,
      'this process is itself supervised; refusing to start a second supervisor',
      {
        hint: 'ask the running supervisor instead (switch / restart), or unset MARSHAL_SUPERVISED / COMFYGIT_SUPERVISED',
      },
    );
  }
  const live = await liveSupervisor(paths);
  if (live) {
    throw new MarshalError(
      SUPERVISOR_ERRORS.E_SUPERVISOR_RUNNING,
      `a supervisor (pid ${live.pid}) already owns this workspace`,
      { details: { pid: live.pid }, hint: 'ask it for its status, a switch, a restart or a stop' },
    );
  }
}

/** Options of {@link startDetachedSupervisor}. */
export interface DetachedStartOptions {
  ws: Workspace;
  paths: MetadataPaths;
  env: string;
  /** Environment of the detached process. */
  processEnv: ClientEnv;
  serverArgs?: readonly string[];
  /** Settings forwarded to the detached supervisor. */
  settings?: Partial<Record<SettingName, number>>;
  /** Bound on the start (default 20 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Starts a supervisor detached for `env` and resolves with its pid once it is up. */
export async function startDetachedSupervisor(o: DetachedStartOptions): Promise<number> {
  const args = [
    'supervise',
    `--workspace=${o.ws.root}`,
    `--env=${o.env}`,
    // Its output goes to orchestrator.log through a size-rotated writer, not an unbounded stderr.
    `--log-file=${o.paths.orchestratorLog}`,
    ...settingsArgs(o.settings ?? {}),
  ];
  if (o.serverArgs && o.serverArgs.length > 0) args.push('--', ...o.serverArgs);
  const { pid } = await spawnDetached({
    execPath: process.execPath,
    args,
    cwd: o.ws.root,
    env: o.processEnv,
    logFile: o.paths.orchestratorLog,
    ...(o.signal ? { signal: o.signal } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    async isUp(child, signal) {
      // Up once it has claimed the workspace and published its pid where ComfyGit's readers look.
      const live = await liveSupervisor(o.paths);
      if (live?.pid === child && (await readPlainPid(o.paths.orchestratorPid)) === child) return true;
      const endpoint = await controlEndpointOf(o.paths);
      return endpoint !== undefined && (await controlHealthy(endpoint.port, { signal }))?.pid === child;
    },
  });
  return pid;
}
