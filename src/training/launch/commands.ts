/**
 * Launch commands per launcher (pure): the exact argv and env of every process the launch starts.
 * Every launcher runs the script through the rank-side entry `python -m marshal_train <script>`
 * (python/marshal_train.py, in each node's workdir), which maps the launcher's own variables
 * (torchrun's RANK..., Open MPI's OMPI_COMM_WORLD_*, PMI_RANK, mlx.launch's MLX_RANK) and the
 * per-rank MARSHAL_SHARDS entry to one contract before the script runs, so the same script works
 * unchanged under each of them.
 *
 * - direct: one process per rank on its node, env:// contract per rank (marshal's own launcher).
 * - torchrun: one `python -m torch.distributed.run` per node (`--redirects 2 --tee 2` works around
 *   the Python 3.11 crash); per-rank shards travel in MARSHAL_SHARDS.
 * - mpirun: one `mpirun` on the coordinator (`--allow-run-as-root` when the coordinator is root).
 * - mlx: one `mlx.launch --hostfile hostfile.json` on the coordinator, with the hostfile JSON.
 */
import { assertNever, InvalidInputError } from '../../core/errors.ts';
import { type AggregationChoice, aggregationEnv } from '../aggregation-plan.ts';
import type { Launcher } from '../cluster.ts';
import type { PlanProcess, PlanRank } from '../plan-schema.ts';
import { type SshOptions, sshCommand } from '../transport.ts';

export interface CommandInput {
  launcher: Launcher;
  master: { addr: string; port: number };
  script: string;
  ranks: readonly PlanRank[];
  steps: number;
  chunkSize: number | null;
  /** The coordinator's uid (mpirun refuses root without a flag). */
  coordinatorUid: number | null;
  /** Directory the coordinator-side launchers run in (the cluster file's directory). */
  coordinatorDir: string;
  /** The gradient rule and f: every rank gets MARSHAL_AGGREGATION and MARSHAL_BYZANTINE_F. */
  aggregation?: AggregationChoice;
  /** GLOO_SOCKET_IFNAME per node name (the cluster file's `interface`), for the nodes that set one. */
  interfaces?: Readonly<Record<string, string>>;
  /** How mpirun reaches ssh nodes (its plm_rsh_agent / plm_rsh_args): the cluster's `ssh:` options. */
  ssh?: SshOptions;
}

export interface LaunchCommands {
  processes: PlanProcess[];
  hostfile: Array<{ ssh: string; ips: string[] }> | null;
  notes: string[];
}

const LOOPBACK = /^(127\.|localhost$|::1$)/;

/** The rank-side entry: `python -m marshal_train <script>` (the module is python/marshal_train.py). */
export const ENTRY_MODULE = 'marshal_train';
const entry = (script: string) => ['-m', ENTRY_MODULE, script];

/** The env:// contract of one rank. */
export function rankEnv(input: CommandInput, r: PlanRank): Record<string, string> {
  return {
    ...sharedEnv(input),
    ...interfaceEnv(input, r.node),
    RANK: String(r.rank),
    WORLD_SIZE: String(input.ranks.length),
    LOCAL_RANK: String(r.local_rank),
    LOCAL_WORLD_SIZE: String(r.local_world_size),
    MARSHAL_SHARD_START: String(r.start),
    MARSHAL_SHARD_END: String(r.end),
    MARSHAL_BATCH_SIZE: String(r.batch_size),
  };
}

function sharedEnv(input: CommandInput): Record<string, string> {
  const env: Record<string, string> = {
    MASTER_ADDR: input.master.addr,
    MASTER_PORT: String(input.master.port),
    MARSHAL_STEPS: String(input.steps),
    MARSHAL_CHUNK_SIZE: String(input.chunkSize ?? 0),
    MARSHAL_BACKEND: 'gloo',
    ...(input.aggregation ? aggregationEnv(input.aggregation) : {}),
  };
  // All ranks on this machine: gloo must bind loopback or it picks an interface peers cannot reach.
  if (LOOPBACK.test(input.master.addr) && input.ranks.every((r) => r.transport === 'local')) {
    env.GLOO_SOCKET_IFNAME = 'lo';
  }
  return env;
}

/** A node's own interface for gloo (overrides the loopback default): peers on other hosts reach it there. */
function interfaceEnv(input: CommandInput, node: string): Record<string, string> {
  const ifname = input.interfaces?.[node];
  return ifname ? { GLOO_SOCKET_IFNAME: ifname } : {};
}

function shardsEnv(input: CommandInput): Record<string, string> {
  return {
    ...sharedEnv(input),
    WORLD_SIZE: String(input.ranks.length),
    MARSHAL_SHARDS: JSON.stringify(input.ranks.map((r) => [r.start, r.end, r.batch_size])),
  };
}

function nodes(ranks: readonly PlanRank[]): PlanRank[][] {
  const byNode = new Map<string, PlanRank[]>();
  for (const r of ranks) byNode.set(r.node, [...(byNode.get(r.node) ?? []), r]);
  return [...byNode.values()];
}

const hostOf = (r: PlanRank) => (r.transport === 'local' ? 'localhost' : r.host.replace(/^[^@]*@/, ''));

/**
 * mpirun with ssh nodes: one application context per node (`-np <slots> --host <host>:<slots>
 * -wdir <its workdir> -x ... <its python> -m marshal_train <script>`, joined by `:`), so each
 * node runs in its own workdir with its own python and its own GLOO_SOCKET_IFNAME (`-x` with a
 * value applies to its context). Open MPI starts its daemons over ssh with the cluster's ssh
 * options (`plm_rsh_agent ssh`, `plm_rsh_args`) and numbers ranks context by context, which is
 * the plan's rank order.
 */
function mpirunOverSsh(input: CommandInput): LaunchCommands {
  const env = shardsEnv(input);
  const rsh = sshCommand(input.ssh);
  // Open MPI splits plm_rsh_args on spaces and understands no quotes.
  for (const word of rsh) {
    if (/\s/.test(word))
      throw new InvalidInputError(
        'ssh.config',
        word,
        'a path without spaces (mpirun splits its ssh arguments on spaces)',
      );
  }
  const argv = ['mpirun'];
  if (input.coordinatorUid === 0) argv.push('--allow-run-as-root');
  argv.push('--mca', 'plm_rsh_agent', rsh[0]!, '--mca', 'plm_rsh_args', rsh.slice(1).join(' '));
  nodes(input.ranks).forEach((g, i) => {
    const r = g[0]!;
    if (i > 0) argv.push(':');
    argv.push('-np', String(g.length), '--host', `${hostOf(r)}:${g.length}`, '-wdir', r.workdir);
    // MARSHAL_PLAN is set on the mpirun process at launch; -x forwards it with the rest.
    for (const k of [...Object.keys(env), 'MARSHAL_PLAN']) argv.push('-x', k);
    const ifname = input.interfaces?.[r.node];
    if (ifname) argv.push('-x', `GLOO_SOCKET_IFNAME=${ifname}`);
    argv.push(r.python, ...entry(input.script));
  });
  return {
    processes: [
      {
        label: 'mpirun',
        node: 'coordinator',
        ranks: input.ranks.map((r) => r.rank),
        argv,
        env,
        cwd: input.coordinatorDir,
        on: 'coordinator',
      },
    ],
    hostfile: null,
    notes: [
      "mpirun sets OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK; the marshal_train entry maps them to RANK, WORLD_SIZE, LOCAL_RANK and the rank's shard",
      'one application context per node: its own workdir, python and GLOO_SOCKET_IFNAME; daemons started over ssh with the cluster ssh options',
      'mpirun --host takes host names without user@: put the user in the ssh config',
    ],
  };
}

/** Builds the processes a launch starts. Pure. */
export function launchCommands(input: CommandInput): LaunchCommands {
  const { ranks, script } = input;
  switch (input.launcher) {
    case 'direct':
      return {
        processes: ranks.map((r) => ({
          label: `rank ${r.rank}`,
          node: r.node,
          ranks: [r.rank],
          argv: [r.python, ...entry(script)],
          env: rankEnv(input, r),
          cwd: r.workdir,
          on: 'node' as const,
        })),
        hostfile: null,
        notes: [
          'one process per rank, started by marshal with the env:// contract, each in its own process group',
        ],
      };
    case 'torchrun': {
      const groups = nodes(ranks);
      return {
        processes: groups.map((g, i) => ({
          label: `node ${g[0]!.node}`,
          node: g[0]!.node,
          ranks: g.map((r) => r.rank),
          argv: [
            g[0]!.python,
            '-m',
            'torch.distributed.run',
            `--nnodes=${groups.length}`,
            `--nproc_per_node=${g.length}`,
            `--node_rank=${i}`,
            `--master_addr=${input.master.addr}`,
            `--master_port=${input.master.port}`,
            '--redirects',
            '2',
            '--tee',
            '2',
            // torchrun runs `python -u -m marshal_train <script>` for each worker.
            ...entry(script),
          ],
          env: { ...shardsEnv(input), ...interfaceEnv(input, g[0]!.node) },
          cwd: g[0]!.workdir,
          on: 'node' as const,
        })),
        hostfile: null,
        notes: [
          'torchrun numbers ranks node_rank * nproc_per_node + local_rank: give every node the same slots',
          '--redirects 2 --tee 2 avoids the torchrun crash on Python 3.11',
        ],
      };
    }
    case 'mpirun': {
      if (ranks.some((r) => r.transport === 'ssh')) return mpirunOverSsh(input);
      const groups = nodes(ranks);
      const env = shardsEnv(input);
      const argv = ['mpirun'];
      if (input.coordinatorUid === 0) argv.push('--allow-run-as-root');
      argv.push(
        '-np',
        String(ranks.length),
        '--host',
        groups.map((g) => `${hostOf(g[0]!)}:${g.length}`).join(','),
      );
      argv.push('-wdir', ranks[0]?.workdir ?? input.coordinatorDir);
      // MARSHAL_PLAN is set on the mpirun process at launch; -x forwards it with the rest.
      for (const k of [...Object.keys(env), 'MARSHAL_PLAN']) argv.push('-x', k);
      argv.push(ranks[0]?.python ?? 'python3', ...entry(script));
      return {
        processes: [
          {
            label: 'mpirun',
            node: 'coordinator',
            ranks: ranks.map((r) => r.rank),
            argv,
            env,
            cwd: input.coordinatorDir,
            on: 'coordinator',
          },
        ],
        hostfile: null,
        notes: [
          "mpirun sets OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK (PMI_RANK/PMI_SIZE elsewhere); the marshal_train entry maps them to RANK, WORLD_SIZE, LOCAL_RANK and the rank's shard",
          "every rank runs in the first node's workdir path: the script must sit at that path on every host",
        ],
      };
    }
    case 'mlx': {
      const hostfile = nodes(ranks).map((g) => ({
        ssh: g[0]!.transport === 'local' ? 'localhost' : g[0]!.host,
        ips: [hostOf(g[0]!)],
      }));
      const env = { ...shardsEnv(input), MLX_METAL_FAST_SYNCH: '1', TOKENIZERS_PARALLELISM: 'false' };
      return {
        processes: [
          {
            label: 'mlx.launch',
            node: 'coordinator',
            ranks: ranks.map((r) => r.rank),
            // mlx.launch (mlx/_distributed_utils/launch.py) turns a first word that is an existing
            // file into `<its --python> <abs path>` and looks any other word up on PATH: `env` keeps
            // `<python> -m marshal_train <script>` intact. Only `--env` entries reach ssh ranks, and
            // `--cwd` is where each rank starts (so `-m marshal_train` finds the helper there).
            argv: [
              'mlx.launch',
              '--hostfile',
              'hostfile.json',
              '--backend',
              'jaccl',
              '--cwd',
              ranks[0]?.workdir ?? input.coordinatorDir,
              ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
              '--',
              'env',
              ranks[0]?.python ?? 'python3',
              ...entry(script),
            ],
            env,
            cwd: input.coordinatorDir,
            on: 'coordinator',
          },
        ],
        hostfile,
        notes: [
          'hostfile.json is written next to the plan at launch',
          'the python binary and the script must sit at the same path on every host (an MLX requirement)',
          'use --backend ring for TCP when RDMA (rdma_ctl enable) is unavailable',
        ],
      };
    }
    default:
      return assertNever(input.launcher);
  }
}
