/**
 * Runs an environment's sync step before a start: its own (`sync` in marshal-env.yaml), else for
 * a ComfyGit environment ComfyGit's sync (`cg -e <env> sync`, see comfygit-start.ts). Bounded by
 * its timeout, cancellable, output captured; a non-zero exit or a timeout is a failure that the
 * state machine acts on (a failed switch rolls back), never silently ignored.
 */
import { isAbortError } from '../core/errors.ts';
import { runCommand } from '../core/run-command.ts';
import type { EnvironmentSpec } from './environment.ts';
import { cleanOutputLine } from './event-log.ts';
import type { SupervisorEventRecord } from './supervisor-types.ts';

/** What {@link runSync} needs from the runtime. */
export interface SyncHost {
  loadSpec(env: string): Promise<EnvironmentSpec>;
  childEnv(spec: EnvironmentSpec): Record<string, string>;
  emit(e: SupervisorEventRecord): void;
  settings: { graceMs: number };
  /** ComfyGit's sync for a ComfyGit-layout environment without its own, or undefined (none available). */
  comfyGitSync(env: string): Promise<{ argv: string[]; timeoutMs: number } | undefined>;
}

/** The last line of a sync's output, cleaned like child output (it reaches logs and statuses). */
function lastLine(text: string): string {
  const lines = text.trim().split('\n');
  return cleanOutputLine((lines[lines.length - 1] ?? '').slice(0, 300));
}

/** Syncs `env`; `{ok: true}` at once when it has no sync step. */
export async function runSync(
  host: SyncHost,
  env: string,
  signal: AbortSignal,
): Promise<{ ok: true } | { ok: false; error: string }> {
  let spec: EnvironmentSpec;
  try {
    spec = await host.loadSpec(env);
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err) };
  }
  const sync = spec.sync ?? (spec.source === 'comfygit-layout' ? await host.comfyGitSync(env) : undefined);
  if (!sync) return { ok: true };
  const fail = (error: string): { ok: false; error: string } => {
    host.emit({ type: 'sync', at: Date.now(), environment: env, ok: false, message: error });
    return { ok: false, error };
  };
  try {
    const res = await runCommand(sync.argv, {
      cwd: spec.dir,
      env: host.childEnv(spec),
      timeoutMs: sync.timeoutMs,
      signal,
      graceMs: host.settings.graceMs,
      maxOutputBytes: 256 * 1024,
    });
    if (res.timedOut) return fail(`timed out after ${sync.timeoutMs} ms`);
    if (res.code !== 0) {
      const why = res.signal ? `killed by ${res.signal}` : `exited with code ${res.code}`;
      const detail = lastLine(res.stderr) || lastLine(res.stdout);
      return fail(`${sync.argv[0]} ${why}${detail ? `: ${detail}` : ''}`);
    }
    host.emit({
      type: 'sync',
      at: Date.now(),
      environment: env,
      ok: true,
      message: lastLine(res.stdout) || 'done',
    });
    return { ok: true };
  } catch (err) {
    if (isAbortError(err)) return { ok: false, error: 'cancelled' };
    return fail(err instanceof Error ? err.message : String(err));
  }
}
