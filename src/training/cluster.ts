/**
 * The cluster file (`cluster.yaml`): which nodes take part, how to reach them and how to launch.
 * Loaded through the core config loader (strict keys, errors name the key and the value), then
 * every coordinator-side path is confined to the cluster file's directory or an allowed root.
 */

import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { loadConfigFile } from '../core/config.ts';
import { CORE_ERRORS, describeValue, MarshalError } from '../core/errors.ts';
import { sanitizeForLog } from '../core/log-hygiene.ts';
import { resolveInside } from '../core/safe-path.ts';
import { DEFAULT_SSH_OPTIONS, isSshDestination, type SshOptions } from './transport.ts';

export const LAUNCHERS = ['direct', 'torchrun', 'mpirun', 'mlx'] as const;
export type Launcher = (typeof LAUNCHERS)[number];

const NodeSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'node name must be 1-64 letters, digits, "-" or "_"'),
  host: z
    .string()
    .refine(
      (h) => h === 'local' || isSshDestination(h),
      'host must be "local" or an ssh destination user@host',
    ),
  slots: z.number().int().min(1).max(1024).default(1),
  python: z.string().min(1).default('python3'),
  workdir: z.string().min(1),
  /** The network interface this node's ranks bind gloo to (GLOO_SOCKET_IFNAME on that node). */
  interface: z
    .string()
    .regex(
      /^[A-Za-z0-9_.:-]{1,15}$/,
      'interface must be a network interface name (1-15 letters, digits, _ . : -)',
    )
    .optional(),
});

const positive = (max: number) => z.number().int().min(1).max(max);

/** How marshal runs ssh: one ssh_config for every ssh, rsync (MARSHAL_RSH) and mpirun call. */
const SshSchema = z.strictObject({
  config: z.string().min(1).optional(),
  connect_timeout_s: positive(3600).default(DEFAULT_SSH_OPTIONS.connect_timeout_s),
  server_alive_interval_s: positive(3600).default(DEFAULT_SSH_OPTIONS.server_alive_interval_s),
  server_alive_count_max: positive(100).default(DEFAULT_SSH_OPTIONS.server_alive_count_max),
});

/** The cluster file as written (validated, defaults applied, paths not yet resolved). */
export const ClusterFileSchema = z
  .strictObject({
    launcher: z.enum(LAUNCHERS).default('direct'),
    master: z
      .strictObject({
        addr: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(1).max(65535).default(29500),
      })
      .default({ addr: '127.0.0.1', port: 29500 }),
    nodes: z.array(NodeSchema).min(1, 'at least one node is required'),
    sync: z.strictObject({ script: z.string().min(1).optional() }).optional(),
    ssh: SshSchema.optional(),
    allowed_roots: z
      .array(z.string().refine((p) => isAbsolute(p), 'allowed_roots entries must be absolute directories'))
      .default([]),
  })
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.nodes.forEach((n, i) => {
      if (seen.has(n.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['nodes', i, 'name'],
          message: `duplicate node name ${n.name}`,
        });
      }
      seen.add(n.name);
    });
  });
export type ClusterFile = z.output<typeof ClusterFileSchema>;

/** One node with its workdir resolved (absolute; coordinator-side for `local` nodes). */
export interface ClusterNode {
  name: string;
  host: string;
  transport: 'local' | 'ssh';
  slots: number;
  python: string;
  workdir: string;
  /** GLOO_SOCKET_IFNAME for this node's ranks, or null to let gloo choose. */
  interface?: string | null;
  /** How to reach the node over ssh (the cluster's `ssh:` section; defaults when absent). */
  ssh?: SshOptions;
}

/** A loaded cluster with every path resolved and confined. */
export interface Cluster {
  /** Absolute path of the cluster file. */
  file: string;
  /** Its directory: the root relative paths resolve against. */
  dir: string;
  launcher: Launcher;
  master: { addr: string; port: number };
  nodes: ClusterNode[];
  /** Absolute path of the pre-sync script, or null when none is configured. */
  syncScript: string | null;
  allowedRoots: string[];
  /** The `ssh:` section, with `config` resolved (a coordinator-side path, confined like `sync.script`). */
  ssh?: SshOptions;
}

/**
 * Resolves a coordinator-side path: relative paths against `dir` (and may not leave it), absolute
 * paths must lie inside `dir` or one of `allowedRoots`. Throws `E_PATH_ESCAPE` (exit 2) naming
 * `field` and the value. A path that does not exist yet is checked through its nearest parent.
 */
export async function resolveClusterPath(
  dir: string,
  allowedRoots: readonly string[],
  userPath: string,
  field: string,
): Promise<string> {
  if (!isAbsolute(userPath)) return resolveInside(dir, userPath, { field });
  for (const root of [dir, ...allowedRoots]) {
    try {
      return await resolveInside(root, userPath, { field });
    } catch (err) {
      if (!(err instanceof MarshalError && err.code === 'E_PATH_ESCAPE')) throw err;
    }
  }
  const roots = [dir, ...allowedRoots].map(sanitizeForLog).join(', ');
  throw new MarshalError(
    CORE_ERRORS.E_PATH_ESCAPE,
    `${field}: path ${sanitizeForLog(describeValue(userPath))} is outside the cluster directory and allowed_roots (${roots})`,
    { details: { field, path: sanitizeForLog(userPath), roots: [dir, ...allowedRoots] } },
  );
}

/** Loads and resolves a cluster file. `cwd` resolves the file name itself; `env` feeds `${VAR}`. */
export async function loadCluster(
  path: string,
  options: { cwd: string; env: Readonly<Record<string, string | undefined>> },
): Promise<Cluster> {
  const file = resolve(options.cwd, path);
  const raw = await loadConfigFile(file, ClusterFileSchema, { env: options.env });
  const dir = dirname(file);
  const allowedRoots = raw.allowed_roots.map((r) => resolve(r));
  const ssh: SshOptions = {
    ...DEFAULT_SSH_OPTIONS,
    ...raw.ssh,
    config: raw.ssh?.config
      ? await resolveClusterPath(dir, allowedRoots, raw.ssh.config, 'ssh.config')
      : null,
  };
  const nodes: ClusterNode[] = [];
  for (const [i, n] of raw.nodes.entries()) {
    const transport = n.host === 'local' ? 'local' : 'ssh';
    let workdir: string;
    if (transport === 'local') {
      workdir = await resolveClusterPath(dir, allowedRoots, n.workdir, `nodes[${i}].workdir`);
    } else if (isAbsolute(n.workdir)) {
      // A remote directory: it cannot be checked from here, only required to be absolute.
      workdir = n.workdir;
    } else {
      throw new MarshalError(
        CORE_ERRORS.E_CONFIG,
        `${sanitizeForLog(file)}: nodes[${i}].workdir: an ssh node needs an absolute remote workdir, got ${describeValue(n.workdir)}`,
        { details: { file, path: `nodes[${i}].workdir`, value: n.workdir } },
      );
    }
    nodes.push({
      name: n.name,
      host: n.host,
      transport,
      slots: n.slots,
      python: n.python,
      workdir,
      interface: n.interface ?? null,
      ssh,
    });
  }
  const syncScript = raw.sync?.script
    ? await resolveClusterPath(dir, allowedRoots, raw.sync.script, 'sync.script')
    : null;
  return { file, dir, launcher: raw.launcher, master: raw.master, nodes, syncScript, allowedRoots, ssh };
}

/** The host key used to serialise work on one machine (`local` nodes all share the coordinator). */
export function hostKey(node: Pick<ClusterNode, 'host' | 'transport'>): string {
  return node.transport === 'local' ? 'local' : node.host.replace(/^[^@]*@/, '');
}
