/**
 * The node probe (effectful): on every node, through its transport and with its python, read the
 * python and framework versions (torch, or mlx.core for the mlx launcher) and the SHA-256 of the training script in the node's workdir. A node
 * that cannot be reached is a result with a reason, never an exception.
 */

import { stat } from 'node:fs/promises';
import { isAbsolute, normalize } from 'node:path';
import { CORE_ERRORS, MarshalError } from '../core/errors.ts';
import { runCommand } from '../core/run-command.ts';
import { resolveInside } from '../core/safe-path.ts';
import type { ClusterNode } from './cluster.ts';
import { prepareCommand } from './transport.ts';

export type NodeProbe =
  | {
      node: string;
      status: 'ok';
      python: string;
      /** The framework version (`torch`, or `mlx.core` for the mlx launcher); null when it does not import. */
      torch: string | null;
      torchError?: string;
      /** Which framework was imported: torch unless the launcher is mlx. */
      framework?: Framework;
      scriptSha256: string | null;
      scriptError?: string;
    }
  | { node: string; status: 'failed'; reason: string };

/** The framework the ranks import: mlx.launch ranks need `mlx.core`, not torch. */
export type Framework = 'torch' | 'mlx';

export interface ProbeOptions {
  env: Readonly<Record<string, string | undefined>>;
  /** What the health check imports (default torch). */
  framework?: Framework;
  signal?: AbortSignal | undefined;
  timeoutMs?: number | undefined;
}

/**
 * Runs on each node with its python: versions and the SHA-256 of the script, as one JSON line.
 * argv[2] names the framework: `torch`, or `mlx` (mlx.launch nodes need no torch).
 */
const PROBE = `import hashlib, json, os, platform, stat, sys
out = {"python": platform.python_version()}
try:
    if sys.argv[2] == "mlx":
        import mlx.core
        out["torch"] = getattr(mlx.core, "__version__", "unknown")
    else:
        import torch
        out["torch"] = torch.__version__
except Exception as e:
    out["torch"] = None
    out["torch_error"] = repr(e)[:300]
try:
    h = hashlib.sha256()
    # Non-blocking open and fstat: a FIFO or device is refused, never read (it would block).
    with os.fdopen(os.open(sys.argv[1], os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError("not a regular file")
        for block in iter(lambda: f.read(1 << 16), b""):
            h.update(block)
    out["script_sha256"] = h.hexdigest()
except Exception as e:
    out["script_sha256"] = None
    out["script_error"] = type(e).__name__ + ": " + str(e)[:300]
print(json.dumps(out))
`;

/** The script path a node opens: confined to its workdir (lexically for remote nodes). */
export async function scriptPathOn(node: ClusterNode, script: string): Promise<string> {
  if (node.transport === 'local') return resolveInside(node.workdir, script, { field: 'script' });
  const norm = normalize(script);
  if (isAbsolute(script) || norm === '..' || norm.startsWith('../') || script.includes('\0')) {
    throw new MarshalError(
      CORE_ERRORS.E_PATH_ESCAPE,
      `script: path ${JSON.stringify(script)} leaves the workdir of ${node.name}`,
      {
        details: { field: 'script', path: script },
      },
    );
  }
  return script;
}

/** Probes one node: versions and the script hash. */
export async function probeNode(
  node: ClusterNode,
  script: string,
  options: ProbeOptions,
): Promise<NodeProbe> {
  const scriptPath = await scriptPathOn(node, script);
  const framework = options.framework ?? 'torch';
  const cmd = prepareCommand(node, [node.python, '-c', PROBE, scriptPath, framework]);
  if (node.transport === 'local') {
    try {
      await stat(node.workdir);
    } catch {
      return { node: node.name, status: 'failed', reason: `workdir ${node.workdir} does not exist` };
    }
  }
  try {
    const r = await runCommand(cmd.argv, {
      cwd: cmd.cwd,
      env: { ...options.env, ...cmd.env },
      timeoutMs: options.timeoutMs ?? 60_000,
      signal: options.signal,
      maxOutputBytes: 1 << 16,
    });
    if (r.timedOut) return { node: node.name, status: 'failed', reason: 'health probe timed out' };
    const last = r.stdout.trim().split('\n').pop() ?? '';
    if (r.code !== 0 || last === '') {
      const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
      return {
        node: node.name,
        status: 'failed',
        reason: `health probe exited with ${r.code ?? r.signal}: ${tail}`,
      };
    }
    const raw = JSON.parse(last) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === 'string' ? v : null);
    return {
      node: node.name,
      status: 'ok',
      python: str(raw.python) ?? 'unknown',
      torch: str(raw.torch),
      framework,
      ...(str(raw.torch_error) ? { torchError: str(raw.torch_error)! } : {}),
      scriptSha256: str(raw.script_sha256),
      ...(str(raw.script_error) ? { scriptError: str(raw.script_error)! } : {}),
    };
  } catch (err) {
    if (options.signal?.aborted) throw err;
    return { node: node.name, status: 'failed', reason: (err as Error).message };
  }
}
