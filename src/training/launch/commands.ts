/**
 * Launch commands per launcher (pure): the exact argv and env of every process the launch starts.
 *
 * - direct: one process per rank on its node, env:// contract per rank (marshal's own launcher).
 * - torchrun: one `python -m torch.distributed.run` per node (`--redirects 2 --tee 2` works around
 *   the Python 3.11 crash); per-rank shards travel in MARSHAL_SHARDS.
 * - mpirun: one `mpirun` on the coordinator (`--allow-run-as-root` when the coordinator is root).
 * - mlx: one `mlx.launch --hostfile hostfile.json` on the coordinator, with the hostfile JSON.
 */
import { assertNever } from '../../core/errors.ts';
import type { Launcher } from '../cluster.ts';
import type { PlanProcess, PlanRank } from '../plan-schema.ts';

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
}

export interface LaunchCommands {
  processes: PlanProcess[];
  hostfile: Array<{ ssh: string; ips: string[] }> | null;
  notes: string[];
}

const LOOPBACK = /^(127\.|localhost$|::1$)/;

/** The env:// contract of one rank. */
export function rankEnv(input: CommandInput, r: PlanRank): Record<string, string> {
  return {
    ...sharedEnv(input),
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
  };
  // All ranks on this machine: gloo must bind loopback or it picks an interface peers cannot reach.
  if (LOOPBACK.test(input.master.addr) && input.ranks.every((r) => r.transport === 'local')) {
    env.GLOO_SOCKET_IFNAME = 'lo';
  }
  return env;
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
          argv: [r.python, script],
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
            script,
          ],
          env: shardsEnv(input),
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
      argv.push(ranks[0]?.python ?? 'python3', script);
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
          'ranks read OMPI_COMM_WORLD_RANK; marshal_train.init_distributed maps it to RANK for env://',
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
            argv: ['mlx.launch', '--hostfile', 'hostfile.json', '--backend', 'jaccl', script],
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
