/**
 * startSupervisor: runs one environment's server as a child and keeps it up, speaking ComfyGit's
 * orchestrator protocol under `<workspace>/.metadata/` (see protocol.ts, state-machine.ts).
 *
 * @example
 * const ws = await findWorkspace({ env: io.env, cwd: io.cwd, home: homedir() });
 * const sup = startSupervisor({ workspace: ws, env: 'prod', serverArgs: ['--port', '8188'], signal });
 * sup.onChange((s) => console.error(s.state));
 * const { exitCode } = await sup.done; // 0 stopped, 4 crash_loop
 */
import { mkdir } from 'node:fs/promises';
import { MarshalError } from '../core/errors.ts';
import { validateEnvironmentName } from './environment.ts';
import { SUPERVISOR_ERRORS } from './errors.ts';
import { openSupervisorLog } from './event-log.ts';
import type { SwitchContext } from './machine-types.ts';
import {
  epochSeconds,
  metadataPaths,
  readProtocolFile,
  SwitchRequestSchema,
  takeSwitchRequest,
  writeSwitchStatus,
} from './protocol.ts';
import { watchProtocolFiles } from './protocol-watcher.ts';
import { pollCommand, pollSwitchRequest, switchTo, takeRequestAfterExit43 } from './requests.ts';
import { Runtime } from './runtime.ts';
import { resolveSettings } from './settings.ts';
import {
  checkPreviousSupervisor,
  cleanStaleFiles,
  clearStaleSwitchLock,
  inspectSwitchStatus,
  interruptedStatus,
  supervisorRunning,
} from './startup.ts';
import { initialState } from './state-machine.ts';
import type { SupervisorHandle, SupervisorOptions, SupervisorResult } from './supervisor-types.ts';

/**
 * Starts supervising `options.env`. Bad options throw at once (E_INVALID_INPUT); start-up problems
 * (E_SUPERVISOR_RUNNING, E_ENV_NOT_FOUND, E_ENV_INVALID, E_CONFIG) reject `done`.
 */
export function startSupervisor(options: SupervisorOptions): SupervisorHandle {
  const settings = resolveSettings(options);
  validateEnvironmentName(options.env);
  const rt = new Runtime({
    workspace: options.workspace,
    serverArgs: options.serverArgs ?? [],
    baseEnv: options.baseEnv ?? process.env,
    settings,
    state: initialState(options.env, settings.machine),
    onEvent: options.onEvent,
    takeRequest: takeRequestAfterExit43,
    ...(options.syncTimeoutMs === undefined ? {} : { syncTimeoutMs: options.syncTimeoutMs }),
  });
  const done = new Promise<SupervisorResult>((resolve, reject) => {
    rt.done.then(resolve);
    void boot(rt, options).catch(async (err: unknown) => {
      rt.abandon();
      await rt.lock.release().catch(() => undefined);
      await rt.pid.close();
      await rt.closeLog();
      reject(err);
    });
  });
  done.catch(() => undefined);
  return {
    status: () => rt.status(),
    restart: () => void rt.dispatch({ type: 'restart_requested' }),
    switchTo: (target) => switchTo(rt, target),
    stop: async () => {
      void rt.dispatch({ type: 'stop_requested', reason: 'stop' });
      await done.then(
        () => undefined,
        () => undefined,
      );
    },
    done,
    onChange: (listener) => rt.onChange(listener),
  };
}

async function boot(rt: Runtime, options: SupervisorOptions): Promise<void> {
  const startedAt = Date.now();
  const paths = metadataPaths(rt.ws.root);
  await metadataStep(paths.dir, () => mkdir(paths.dir, { recursive: true }));
  await metadataStep(paths.switchLog, async () => rt.openLog(openSupervisorLog(paths.switchLog)));
  const emit = rt.emit.bind(rt);
  await checkPreviousSupervisor(paths, rt.settings.graceMs, emit);
  await rt.loadSpec(options.env);
  await cleanStaleFiles(paths);
  const claim = await metadataStep(paths.orchestratorPid, () => rt.claimPid());
  if (!claim.ok) throw supervisorRunning(paths, claim.holder);
  emit({
    type: 'started',
    at: Date.now(),
    pid: process.pid,
    environment: options.env,
    workspace: rt.ws.root,
  });
  await clearStaleSwitchLock(paths, rt.settings.lockTtlMs, emit);
  const previous = await inspectSwitchStatus(paths, emit);
  const pending = await pendingRequest(rt, options.env);
  if (!pending && previous.status && previous.staleNonTerminal) {
    const status = interruptedStatus(previous.status, options.env, rt.ws.root);
    await writeSwitchStatus(rt.ws, status);
    rt.publishSwitchStatus(status);
    emit({ type: 'switch_status', at: Date.now(), status });
  } else if (!pending) {
    rt.publishSwitchStatus(previous.status);
  }
  void watchProtocolFiles({
    dir: paths.dir,
    names: ['.cmd', '.switch_request.json'],
    intervalMs: rt.settings.pollIntervalMs,
    signal: rt.lifetime.signal,
    tick: async () => {
      for (const file of await rt.pid.reassert())
        rt.warn(`${file} was removed or replaced by another program; restored`);
      await pollCommand(rt, startedAt);
      await pollSwitchRequest(rt);
    },
    onError: (err) => rt.warn(`watching ${paths.dir}: ${String(err)}`),
  });
  const onAbort = () => void rt.dispatch({ type: 'stop_requested', reason: 'signal' });
  options.signal?.addEventListener('abort', onAbort, { once: true });
  rt.lifetime.signal.addEventListener('abort', () => options.signal?.removeEventListener('abort', onAbort), {
    once: true,
  });
  await rt.dispatch(pending ? { type: 'boot', pending } : { type: 'boot' });
  if (options.signal?.aborted) onAbort();
}

/** Errors of the file system that mean ".metadata/ is not usable", not a bug. */
const UNUSABLE = new Set(['EACCES', 'EPERM', 'EROFS', 'ELOOP', 'ENOSPC', 'EDQUOT']);

/** Runs a start-up step on `.metadata/`; a read-only, foreign or booby-trapped folder is E_METADATA_UNUSABLE. */
async function metadataStep<T>(file: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === undefined || !UNUSABLE.has(code)) throw err;
    const why = code === 'ELOOP' ? 'it is a symbolic link (refused)' : (err as Error).message;
    throw new MarshalError(SUPERVISOR_ERRORS.E_METADATA_UNUSABLE, `cannot write ${file}: ${why}`, {
      cause: err,
      details: { file, code },
      hint: 'the supervisor needs a writable .metadata/ in the workspace, owned by the user running it',
    });
  }
}

/**
 * A fresh `.switch_request.json` present at start (ComfyGit's lazy spawn writes it before spawning
 * the supervisor): taken, locked, and turned into the first switch.
 */
async function pendingRequest(rt: Runtime, env: string): Promise<SwitchContext | undefined> {
  const paths = metadataPaths(rt.ws.root);
  const peek = await readProtocolFile(paths.switchRequest, SwitchRequestSchema);
  if (peek.status === 'missing') return undefined;
  const read = await takeSwitchRequest(rt.ws);
  if (read.status !== 'ok') {
    if (read.status === 'bad')
      rt.emit({
        type: 'protocol_issue',
        at: Date.now(),
        file: paths.switchRequest,
        problem: `${read.problem} (removed)`,
      });
    return undefined;
  }
  const req = read.value;
  const ageMs = (epochSeconds() - req.timestamp) * 1000;
  let problem: string | null =
    ageMs > rt.settings.lockTtlMs ? `stale request (${Math.round(ageMs / 1000)} s old)` : null;
  try {
    validateEnvironmentName(req.target_env, 'target_env');
  } catch (err) {
    problem = (err as Error).message;
  }
  if (problem) {
    rt.emit({ type: 'switch_refused', at: Date.now(), target: req.target_env, reason: problem });
    return undefined;
  }
  const lock = await rt.lock.acquire(req.target_env, { forRequest: true });
  if (!lock.ok) {
    rt.emit({ type: 'switch_refused', at: Date.now(), target: req.target_env, reason: lock.reason });
    return undefined;
  }
  let source: string | null = req.source_env ?? (req.target_env !== env ? env : null);
  if (source !== null) {
    // Only an environment that can be started is worth rolling back to.
    source = await rt.loadSpec(source).then(
      () => source,
      () => null,
    );
  }
  rt.emit({
    type: 'command',
    at: Date.now(),
    command: 'switch',
    source: 'file',
    accepted: true,
    detail: `${req.target_env} (pending at start)`,
  });
  return { target: req.target_env, source: source === req.target_env ? null : source };
}
