/**
 * What the supervisor commands share: the --workspace option, locating the workspace and its
 * protocol files, finding the live supervisor (PID file with identity) and its control API.
 */
import { homedir } from 'node:os';
import { readPidFile } from '../core/pid-file.ts';
import { type ControlEndpoint, readControlEndpoint } from '../supervisor/control-client.ts';
import { DEFAULT_CONTROL_PORTS, type PortRange, parsePortRange } from '../supervisor/port-range.ts';
import { type MetadataPaths, metadataPaths } from '../supervisor/protocol.ts';
import { findWorkspace, type Workspace } from '../supervisor/workspace.ts';
import { type CommandContext, type OptionSpec, stringOption } from './command.ts';
import type { Io } from './io.ts';

/** `--workspace <dir>`, accepted by every supervisor command. */
export const WORKSPACE_OPTION: OptionSpec = {
  type: 'string',
  valueName: 'dir',
  description: 'the workspace (default: $COMFYGIT_HOME, ~/comfygit, or the nearest folder with .metadata/)',
};

export interface WorkspaceContext {
  ws: Workspace;
  paths: MetadataPaths;
}

/** Locates the workspace from --workspace, the environment and the current directory. */
export async function resolveWorkspace(ctx: CommandContext): Promise<WorkspaceContext> {
  const ws = await findWorkspace({
    explicit: stringOption(ctx.values, 'workspace'),
    env: ctx.io.env,
    cwd: ctx.io.cwd,
    home: ctx.io.env.HOME ?? homedir(),
  });
  return { ws, paths: metadataPaths(ws.root) };
}

/** The live supervisor of a workspace, from its PID file (identity-checked), or undefined. */
export async function liveSupervisor(
  paths: MetadataPaths,
): Promise<{ pid: number; record: Record<string, unknown> } | undefined> {
  const state = await readPidFile(paths.orchestratorPid);
  return state.status === 'alive' ? { pid: state.record.pid, record: state.record } : undefined;
}

/** The control API endpoint advertised in `.metadata/`, if any. */
export function controlEndpointOf(paths: MetadataPaths): Promise<ControlEndpoint | undefined> {
  return readControlEndpoint({ portFile: paths.controlPort, tokenFile: paths.controlToken });
}

/** Whether this process runs under a supervisor (ComfyGit's or marshal's): it must never start another one. */
export function isSupervisedProcess(env: Io['env']): boolean {
  return [env.COMFYGIT_SUPERVISED, env.MARSHAL_SUPERVISED].some(
    (v) => v !== undefined && v !== '' && v !== '0',
  );
}

/** The control port range: MARSHAL_CONTROL_PORTS (`5050-5100`, `5050`, or `0` for any free port). */
export function controlPortRange(env: Io['env']): PortRange {
  const text = env.MARSHAL_CONTROL_PORTS;
  return text === undefined || text === ''
    ? DEFAULT_CONTROL_PORTS
    : parsePortRange(text, 'MARSHAL_CONTROL_PORTS');
}
