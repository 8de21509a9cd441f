/**
 * Pre-sync (effectful): runs the cluster's `sync.script` on the coordinator (e.g. an rsync of the
 * code to every node) before anything else is measured. Not configured: skipped. Configured but
 * missing: a warning, the run goes on. Non-zero exit: a failure carrying the script's output.
 * The script runs by its own path (argv, no shell); it needs its shebang and execute bit.
 *
 * Besides the caller's environment the script gets what it needs to reach the nodes the way
 * marshal does: `MARSHAL_RSH` (marshal's ssh command with the cluster's `ssh:` options, for
 * `rsync -e "$MARSHAL_RSH"`) and `MARSHAL_SYNC_TARGETS` (one `host:workdir/` line per ssh node,
 * a `workdir/` line per local node).
 */
import { stat } from 'node:fs/promises';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { runCommand } from '../core/run-command.ts';
import { quoteShellCommand } from '../core/shell-quote.ts';
import type { Cluster } from './cluster.ts';
import { sshCommand } from './transport.ts';

export type SyncFact =
  | { status: 'not_configured' }
  | { status: 'missing'; script: string }
  | { status: 'ok' | 'failed'; script: string; exitCode: number | null; output: string; durationMs: number };

const OUTPUT_TAIL = 4000;

/** The variables the sync script gets on top of the caller's environment. */
export function syncEnv(cluster: Pick<Cluster, 'nodes' | 'ssh'>): Record<string, string> {
  // rsync splits -e on spaces and honours quotes (not backslashes): a config path holding a `'` breaks it.
  return {
    MARSHAL_RSH: quoteShellCommand(sshCommand(cluster.ssh)),
    MARSHAL_SYNC_TARGETS: cluster.nodes
      .map((n) =>
        n.transport === 'ssh'
          ? `${n.host}:${n.workdir.replace(/\/*$/, '/')}`
          : n.workdir.replace(/\/*$/, '/'),
      )
      .join('\n'),
  };
}

/** Runs the sync script (if any) in the cluster file's directory, bounded by `timeoutMs` (default 10 min). */
export async function runSync(
  cluster: Cluster,
  options: {
    env: Readonly<Record<string, string | undefined>>;
    signal?: AbortSignal | undefined;
    timeoutMs?: number | undefined;
  },
): Promise<SyncFact> {
  const script = cluster.syncScript;
  if (script === null) return { status: 'not_configured' };
  try {
    await stat(script);
  } catch {
    return { status: 'missing', script };
  }
  const started = Date.now();
  try {
    const r = await runCommand([script], {
      cwd: cluster.dir,
      env: { ...options.env, ...syncEnv(cluster) },
      timeoutMs: options.timeoutMs ?? 600_000,
      signal: options.signal,
      maxOutputBytes: 1 << 20,
    });
    const output = sanitizeForLog(`${r.stdout}${r.stderr}`.trim()).slice(-OUTPUT_TAIL);
    const ok = r.code === 0 && !r.timedOut;
    return {
      status: ok ? 'ok' : 'failed',
      script,
      exitCode: r.code,
      output: r.timedOut ? `timed out; ${output}` : output,
      durationMs: Date.now() - started,
    };
  } catch (err) {
    if (options.signal?.aborted) throw err;
    return {
      status: 'failed',
      script,
      exitCode: null,
      output: (err as Error).message,
      durationMs: Date.now() - started,
    };
  }
}
