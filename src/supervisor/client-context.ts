/**
 * What every client operation needs to know about a workspace: its live supervisor (PID file with
 * identity check), the control API it advertises, and whether the calling process is itself
 * supervised (it must then never start a second supervisor).
 */
import { readPidFile } from '../core/pid-file.ts';
import { type ControlEndpoint, readControlEndpoint } from './control-client.ts';
import { identityFileOf } from './pid-writer.ts';
import { DEFAULT_CONTROL_PORTS, type PortRange, parsePortRange } from './port-range.ts';
import type { MetadataPaths } from './protocol.ts';

/** Environment variables as the client reads them. */
export type ClientEnv = Readonly<Record<string, string | undefined>>;

/**
 * The live supervisor of a workspace, or undefined: marshal's identity file (start-time checked)
 * when present, else `.orchestrator.pid` (ComfyGit's plain pid, liveness only).
 */
export async function liveSupervisor(
  paths: MetadataPaths,
): Promise<{ pid: number; record: Record<string, unknown> } | undefined> {
  let state = await readPidFile(identityFileOf(paths.orchestratorPid));
  if (state.status === 'missing') state = await readPidFile(paths.orchestratorPid);
  return state.status === 'alive' ? { pid: state.record.pid, record: state.record } : undefined;
}

/** The control API endpoint advertised in `.metadata/`, if any. */
export function controlEndpointOf(paths: MetadataPaths): Promise<ControlEndpoint | undefined> {
  return readControlEndpoint({ portFile: paths.controlPort, tokenFile: paths.controlToken });
}

/** Whether a process with this environment runs under a supervisor (ComfyGit's or marshal's). */
export function isSupervisedProcess(env: ClientEnv): boolean {
  return [env.COMFYGIT_SUPERVISED, env.MARSHAL_SUPERVISED].some(
    (v) => v !== undefined && v !== '' && v !== '0',
  );
}

/** The control port range: MARSHAL_CONTROL_PORTS (`5050-5100`, `5050`, or `0` for any free port). */
export function controlPortRange(env: ClientEnv): PortRange {
  const text = env.MARSHAL_CONTROL_PORTS;
  return text === undefined || text === ''
    ? DEFAULT_CONTROL_PORTS
    : parsePortRange(text, 'MARSHAL_CONTROL_PORTS');
}
