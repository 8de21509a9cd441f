/**
 * Starting a supervisor from the CLI: the checks that keep supervisors from nesting or competing
 * for one workspace, and the detached start used by `supervise --detach` and lazy `switch`.
 */

import { MarshalError } from '../core/errors.ts';
import { controlHealthy } from '../supervisor/control-client.ts';
import { spawnDetached } from '../supervisor/detach.ts';
import { SUPERVISOR_ERRORS } from '../supervisor/errors.ts';
import type { MetadataPaths } from '../supervisor/protocol.ts';
import type { CommandContext } from './command.ts';
import {
  controlEndpointOf,
  isSupervisedProcess,
  liveSupervisor,
  type WorkspaceContext,
} from './supervisor-context.ts';

/** Refuses a second supervisor: nested under one, or one already owns the workspace. */
export async function assertMayStart(ctx: CommandContext, paths: MetadataPaths): Promise<void> {
  if (isSupervisedProcess(ctx.io.env)) {
    throw new MarshalError(
      SUPERVISOR_ERRORS.E_NESTED_SUPERVISION,
      'this process is itself supervised; refusing to start a second supervisor',
      {
        hint: 'ask the running supervisor instead (marshal switch / restart), or unset MARSHAL_SUPERVISED / COMFYGIT_SUPERVISED',
      },
    );
  }
  const live = await liveSupervisor(paths);
  if (live) {
    throw new MarshalError(
      SUPERVISOR_ERRORS.E_SUPERVISOR_RUNNING,
      `a supervisor (pid ${live.pid}) already owns this workspace`,
      {
        details: { pid: live.pid },
        hint: 'use marshal status / switch / restart / stop',
      },
    );
  }
}

/** Starts `marshal supervise` detached for `env` and resolves with its pid once it is up. */
export async function startDetached(
  ctx: CommandContext,
  { ws, paths }: WorkspaceContext,
  env: string,
  extraArgs: string[],
  serverArgs: string[],
): Promise<number> {
  const args = ['supervise', `--workspace=${ws.root}`, `--env=${env}`, ...extraArgs];
  if (serverArgs.length > 0) args.push('--', ...serverArgs);
  const { pid } = await spawnDetached({
    execPath: process.execPath,
    args,
    cwd: ws.root,
    env: ctx.io.env,
    logFile: paths.orchestratorLog,
    signal: ctx.signal,
    async isUp(child, signal) {
      const live = await liveSupervisor(paths);
      if (live?.pid === child) return true;
      const endpoint = await controlEndpointOf(paths);
      return endpoint !== undefined && (await controlHealthy(endpoint.port, { signal }))?.pid === child;
    },
  });
  return pid;
}
