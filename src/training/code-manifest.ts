/**
 * The code manifest (effectful probe, pure comparison): the SHA-256 of every file a launch runs
 * (the training script, the rank-side helper `marshal_train.py`, and any extra code files), read
 * on each node through its transport with its python. `train plan` records it per node; `train
 * launch` reads it again on every node right before starting and refuses any difference.
 */
import { MarshalError } from '../core/errors.ts';
import { sha256CanonicalJson } from '../core/hash.ts';
import { runCommand } from '../core/run-command.ts';
import { scriptPathOn } from './node-probe.ts';
import { prepareCommand, type TransportNode } from './transport.ts';

/** The rank-side helper every launch command runs (`python -m marshal_train <script>`). */
export const CODE_HELPER = 'marshal_train.py';

/** The files the plan lists as the code: script first, then the helper, then extras (deduplicated). */
export function codeFiles(script: string, extra: readonly string[] = []): string[] {
  return [...new Set([script, CODE_HELPER, ...extra])];
}

export interface ManifestNode extends TransportNode {
  name: string;
  python: string;
}

/** One node's manifest: each file's SHA-256, or null when it could not be read (with why). */
export interface NodeManifest {
  node: string;
  /** null when the node could not be reached at all (`error` says why). */
  files: Record<string, string | null> | null;
  errors: Record<string, string>;
  error?: string;
}

// Opened non-blocking and checked with fstat: a FIFO or device in a code file's place is refused
// (`NotARegularFile`), never read (reading a FIFO would block until the probe times out).
const PROGRAM = `import hashlib, json, os, stat, sys
class NotARegularFile(OSError):
    pass
out = {}
errs = {}
for name, path in zip(sys.argv[1::2], sys.argv[2::2]):
    try:
        h = hashlib.sha256()
        with os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)), "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                raise NotARegularFile(path)
            for block in iter(lambda: f.read(1 << 16), b""):
                h.update(block)
        out[name] = h.hexdigest()
    except Exception as e:
        out[name] = None
        errs[name] = type(e).__name__
print(json.dumps({"files": out, "errors": errs}))
`;

/** Hashes `files` (relative to the workdir, confined to it) on `node`. Never throws for node failures. */
export async function probeCodeManifest(
  node: ManifestNode,
  files: readonly string[],
  options: {
    env: Readonly<Record<string, string | undefined>>;
    signal?: AbortSignal | undefined;
    timeoutMs?: number;
  },
): Promise<NodeManifest> {
  const args: string[] = [];
  // A file that leaves the workdir (e.g. replaced by a symlink to elsewhere) is this file's error,
  // named with its node, not a failure of the whole command.
  const escaped: Record<string, string> = {};
  for (const f of files) {
    try {
      args.push(f, await scriptPathOn({ ...node, slots: 1 }, f));
    } catch (err) {
      if (!(err instanceof MarshalError) || err.code !== 'E_PATH_ESCAPE') throw err;
      escaped[f] = err.message.replace(/^script: /, '');
    }
  }
  const cmd = prepareCommand(node, [node.python, '-c', PROGRAM, ...args]);
  const withEscaped = (m: NodeManifest): NodeManifest =>
    m.files === null
      ? m
      : {
          ...m,
          files: Object.fromEntries(files.map((f) => [f, f in escaped ? null : (m.files?.[f] ?? null)])),
          errors: { ...m.errors, ...escaped },
        };
  try {
    const r = await runCommand(cmd.argv, {
      cwd: cmd.cwd,
      env: { ...options.env, ...cmd.env },
      timeoutMs: options.timeoutMs ?? 60_000,
      signal: options.signal,
      maxOutputBytes: 1 << 16,
    });
    const last = r.stdout.trim().split('\n').pop() ?? '';
    if (r.timedOut || r.code !== 0 || last === '') {
      const why = r.timedOut ? 'timed out' : `exited with ${r.code ?? r.signal}`;
      return { node: node.name, files: null, errors: {}, error: `code manifest probe ${why}` };
    }
    const raw = JSON.parse(last) as { files: Record<string, string | null>; errors: Record<string, string> };
    return withEscaped({ node: node.name, files: raw.files, errors: raw.errors ?? {} });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    return { node: node.name, files: null, errors: {}, error: (err as Error).message };
  }
}

/** The manifest hash of one node: SHA-256 of the canonical {file: hash}; null when a file is missing. */
export function manifestSha256(files: Record<string, string | null> | null): string | null {
  if (!files || Object.values(files).some((h) => h === null)) return null;
  return sha256CanonicalJson(files);
}

/** One difference between the planned manifest and the current one. */
export interface CodeChange {
  node: string;
  file: string;
  planned: string | null;
  now: string | null;
  /** Why, for humans: `changed`, `missing now`, `missing at planning`, `node unreachable: ...`. */
  problem: string;
}

/** Every difference between what was planned and what is there now (pure). */
export function compareManifests(
  planned: Readonly<Record<string, Record<string, string | null>>>,
  current: readonly NodeManifest[],
): CodeChange[] {
  const changes: CodeChange[] = [];
  for (const now of current) {
    const plan = planned[now.node] ?? {};
    for (const [file, was] of Object.entries(plan)) {
      if (now.files === null) {
        changes.push({
          node: now.node,
          file,
          planned: was,
          now: null,
          problem: `node unreachable: ${now.error}`,
        });
        continue;
      }
      const is = now.files[file] ?? null;
      if (was === null && is === null) {
        changes.push({
          node: now.node,
          file,
          planned: null,
          now: null,
          problem: 'missing (at planning and now)',
        });
      } else if (is === null) {
        changes.push({
          node: now.node,
          file,
          planned: was,
          now: null,
          problem: `missing now (${now.errors[file] ?? 'unreadable'})`,
        });
      } else if (was !== is) {
        changes.push({
          node: now.node,
          file,
          planned: was,
          now: is,
          problem: was === null ? 'missing at planning' : 'changed',
        });
      }
    }
  }
  return changes;
}

/** The planned {file: hash} of every participating node. */
export function plannedManifests(plan: {
  strategy: { participating_nodes: string[] };
  code: { files: string[]; nodes: Record<string, { files: Record<string, string | null> }> };
}): Record<string, Record<string, string | null>> {
  return Object.fromEntries(
    plan.strategy.participating_nodes.map((n) => [
      n,
      plan.code.nodes[n]?.files ?? Object.fromEntries(plan.code.files.map((f) => [f, null])),
    ]),
  );
}
