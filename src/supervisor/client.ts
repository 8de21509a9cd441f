/**
 * The supervisor client: what `marshal status / restart / stop / switch` and `supervise --detach`
 * do, as a library. Each method returns data; nothing is printed.
 *
 * @example
 * const ws = await findWorkspace({ env: process.env, cwd: process.cwd(), home: homedir() });
 * const client = supervisorClient({ workspace: ws, signal });
 * const outcome = await client.switchTo('staging', { wait: true, timeoutMs: 120_000 });
 * if (outcome.state !== 'complete') console.error(outcome.status?.error);
 */

import {
  type RestartOutcome,
  readStatus,
  requestRestart,
  requestStop,
  type StatusReport,
  type StopOutcome,
} from './client-commands.ts';
import type { ClientEnv } from './client-context.ts';
import { assertMayStart, startDetachedSupervisor } from './client-start.ts';
import {
  requestSwitch,
  type SwitchChannel,
  type SwitchRequestOutcome,
  waitForSwitch,
} from './client-switch.ts';
import { loadEnvironment } from './environment.ts';
import { type MetadataPaths, metadataPaths, type SwitchStatus } from './protocol.ts';
import { checkSetting, type SettingName } from './settings.ts';
import type { Workspace } from './workspace.ts';

/** Default bound of `switchTo({wait: true})`. */
export const SWITCH_WAIT_DEFAULT_MS = 600_000;
/** Default bound of `stop()`. */
export const STOP_WAIT_DEFAULT_MS = 30_000;

/** Options of {@link supervisorClient}. */
export interface SupervisorClientOptions {
  workspace: Workspace;
  /** The caller's environment (nested-supervision check, detached start); default process.env. */
  env?: ClientEnv;
  /** Aborts every operation of this client. */
  signal?: AbortSignal;
}

/** Options of {@link SupervisorClient.switchTo}. */
export interface SwitchToOptions {
  /** Wait until this switch ends (default false). */
  wait?: boolean;
  /** Bound on the wait (default {@link SWITCH_WAIT_DEFAULT_MS}). */
  timeoutMs?: number;
  /** Server args for a lazily started supervisor. */
  serverArgs?: readonly string[];
  /** Called once the request is made, before any wait. */
  onRequested?: (request: SwitchRequestOutcome) => void;
  /** Called once per new state of this switch's status while waiting. */
  onProgress?: (status: SwitchStatus) => void;
}

/** What `switchTo` did: `state`/`status` are null without `wait` (or when no wait is possible). */
export interface SwitchOutcome {
  target: string;
  via: SwitchChannel;
  supervisorPid: number | null;
  state: SwitchStatus['state'] | null;
  status: SwitchStatus | null;
}

/** Options of {@link SupervisorClient.startDetached}. */
export interface StartDetachedOptions {
  serverArgs?: readonly string[];
  settings?: Partial<Record<SettingName, number>>;
  timeoutMs?: number;
}

/** A client of one workspace's supervisor. */
export interface SupervisorClient {
  readonly workspace: Workspace;
  readonly paths: MetadataPaths;
  status(): Promise<StatusReport>;
  /** E_NO_SUPERVISOR when none runs. */
  restart(): Promise<RestartOutcome>;
  /** Stops the supervisor and waits until it is gone (TimeoutError after `timeoutMs`). */
  stop(options?: { timeoutMs?: number }): Promise<StopOutcome>;
  /** API, else request file, else lazy detached start (see client-switch.ts). */
  switchTo(target: string, options?: SwitchToOptions): Promise<SwitchOutcome>;
  /** Starts a detached supervisor for `env`; resolves with its pid once it is up. */
  startDetached(env: string, options?: StartDetachedOptions): Promise<{ pid: number; log: string }>;
}

/** A client for `options.workspace` (see the module comment). */
export function supervisorClient(options: SupervisorClientOptions): SupervisorClient {
  const ws = options.workspace;
  const paths = metadataPaths(ws.root);
  const env = options.env ?? process.env;
  const { signal } = options;
  const startDetached = async (name: string, o: StartDetachedOptions = {}) => {
    // Refused here, naming the setting, rather than by the detached process after it started.
    for (const [key, value] of Object.entries(o.settings ?? {})) checkSetting(key as SettingName, value);
    await loadEnvironment(ws, name, { serverArgs: [...(o.serverArgs ?? [])], env });
    await assertMayStart(env, paths);
    const pid = await startDetachedSupervisor({
      ws,
      paths,
      env: name,
      processEnv: env,
      ...o,
      ...(signal ? { signal } : {}),
    });
    return { pid, log: paths.orchestratorLog };
  };
  return {
    workspace: ws,
    paths,
    status: () => readStatus(ws, paths, signal),
    restart: () => requestRestart(ws, paths, signal),
    stop: (o = {}) =>
      requestStop(ws, paths, {
        timeoutMs: o.timeoutMs ?? STOP_WAIT_DEFAULT_MS,
        ...(signal ? { signal } : {}),
      }),
    async switchTo(target, o = {}) {
      await loadEnvironment(ws, target, { serverArgs: [...(o.serverArgs ?? [])], env });
      const request = await requestSwitch(
        ws,
        paths,
        target,
        { env, ...(signal ? { signal } : {}) },
        async () => {
          const pid = await startDetachedSupervisor({
            ws,
            paths,
            env: target,
            processEnv: env,
            serverArgs: o.serverArgs ?? [],
            ...(signal ? { signal } : {}),
          });
          return pid;
        },
      );
      o.onRequested?.(request);
      const base = { target, via: request.via, supervisorPid: request.supervisorPid };
      // A supervised caller's request is acted on only when it exits 43: nothing to wait for here.
      if (!o.wait || request.via === 'file-supervised') return { ...base, state: null, status: null };
      const status = await waitForSwitch(ws, paths, {
        target,
        requestedAt: request.requestedAt,
        timeoutMs: o.timeoutMs ?? SWITCH_WAIT_DEFAULT_MS,
        ...(signal ? { signal } : {}),
        ...(o.onProgress ? { onProgress: o.onProgress } : {}),
      });
      return { ...base, state: status.state, status };
    },
    startDetached,
  };
}
