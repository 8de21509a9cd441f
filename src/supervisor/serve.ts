/**
 * serveSupervisor: the whole foreground use case of `marshal supervise`. Refuses to nest or to
 * compete for a workspace, runs the supervisor, and serves its control API, but only once this
 * supervisor owns the workspace (its PID file written): a supervisor that failed to start never
 * advertises a port. A crash loop ends it with E_CRASH_LOOP (exit 4).
 */
import { mkdir } from 'node:fs/promises';
import { MarshalError } from '../core/errors.ts';
import { controlPortRange } from './client-context.ts';
import { assertMayStart } from './client-start.ts';
import { type ControlApi, startControlApi } from './control-api.ts';
import { loadEnvironment } from './environment.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';
import { loadOrchestratorConfig, optionsFromOrchestratorConfig } from './orchestrator-config.ts';
import type { PortRange } from './port-range.ts';
import { metadataPaths } from './protocol.ts';
import { startSupervisor } from './supervisor.ts';
import type { SupervisorEventRecord, SupervisorOptions, SupervisorResult } from './supervisor-types.ts';

/** Options of {@link serveSupervisor}. */
export interface ServeOptions extends SupervisorOptions {
  /** Control API ports (default: MARSHAL_CONTROL_PORTS of `baseEnv`, else 5050-5100); null: no API. */
  controlPorts?: PortRange | null;
  /** Told whether the control API came up (a failure is not fatal: the `.cmd` file still works). */
  onControlApi?: (api: { ok: true; port: number } | { ok: false; error: Error }) => void;
}

/**
 * Supervises until stopped (stop request, `signal`, shutdown command, child exit 0) and resolves
 * with the result; rejects with E_CRASH_LOOP when the child kept crashing, and with the start-up
 * errors (E_NESTED_SUPERVISION, E_SUPERVISOR_RUNNING, E_ENV_*).
 */
export async function serveSupervisor(options: ServeOptions): Promise<SupervisorResult> {
  const env = options.baseEnv ?? process.env;
  const paths = metadataPaths(options.workspace.root);
  // An unknown or broken environment is refused before anything in .metadata/ is touched.
  await loadEnvironment(options.workspace, options.env, { serverArgs: options.serverArgs ?? [], env });
  await assertMayStart(env, paths);
  // ComfyGit's orchestrator_config.json (created with its defaults when missing): the caller's own
  // options win, then MARSHAL_CONTROL_PORTS, then the file.
  await mkdir(paths.dir, { recursive: true }).catch(() => undefined);
  const loaded = await loadOrchestratorConfig(paths.dir, { create: true });
  if (loaded.warning) options.onEvent?.({ type: 'warning', at: Date.now(), message: loaded.warning });
  options = { ...options, ...optionsFromOrchestratorConfig(loaded.config, options) };
  const ports =
    options.controlPorts !== undefined
      ? options.controlPorts
      : !loaded.config.enableControlServer
        ? null
        : env.MARSHAL_CONTROL_PORTS
          ? controlPortRange(env)
          : loaded.config.controlPortRange;
  let markStarted: () => void = () => {};
  const started = new Promise<'started'>((resolve) => {
    markStarted = () => resolve('started');
  });
  const onEvent = (e: SupervisorEventRecord): void => {
    if (e.type === 'started') markStarted();
    options.onEvent?.(e);
  };
  const handle = startSupervisor({ ...options, onEvent });
  const first = await Promise.race([
    started,
    handle.done.then(
      () => 'done' as const,
      () => 'done' as const,
    ),
  ]);
  let api: ControlApi | undefined;
  if (first === 'started' && ports === null && !loaded.config.enableControlServer) {
    options.onControlApi?.({
      ok: false,
      error: new Error(`disabled by orchestrator.enable_control_server in ${loaded.path}`),
    });
  }
  if (first === 'started' && ports !== null) {
    try {
      api = await startControlApi({
        target: handle,
        portFile: paths.controlPort,
        tokenFile: paths.controlToken,
        logFile: paths.switchLog,
        ports,
      });
      options.onControlApi?.({ ok: true, port: api.port });
    } catch (err) {
      options.onControlApi?.({ ok: false, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }
  try {
    const result = await handle.done;
    if (result.state === 'crash_loop') {
      throw new MarshalError(SUPERVISOR_ERRORS.E_CRASH_LOOP, `supervision gave up: ${result.reason}`, {
        details: { ...result },
        hint: `see ${paths.switchLog}`,
      });
    }
    return result;
  } finally {
    await api?.close();
  }
}
