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
 * - mlx: one `mlx.launch --hostfile hostfile.json --backend ring` on the coordinator, one hostfile
 *   entry per rank (see {@link mlxLaunch} for what mlx.launch does with each word).
 */
import { assertNever, InvalidInputError } from '../../core/errors.ts';
import { type AggregationChoice, aggregationEnv } from '../aggregation-plan.ts';
import type { Launcher } from '../cluster.ts';
import type { PlanProcess, PlanRank } from '../plan-schema.ts';
import { type SshOptions, sshCommand } from '../transport.ts';
import { LAUNCH_ENV_NAMES } from './launch-env.ts';

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
  /**
   * The coordinator's `setpriv` (util-linux), or null: mpirun's ranks on the coordinator run as
   * `setpriv --pdeathsig KILL -- <python> ...`, so none outlives mpirun. See {@link RANK_PDEATHSIG}.
   */
  coordinatorSetpriv?: string | null;
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
const userOf = (r: PlanRank): string | null =>
  r.transport === 'ssh' && r.host.includes('@') ? r.host.slice(0, r.host.lastIndexOf('@')) : null;

/**
 * Why mpirun's local ranks run under `setpriv --pdeathsig KILL`: marshal starts mpirun with
 * pdeathsig KILL, but that reaches only mpirun; Open MPI forks the ranks itself, each in its own
 * process group, so a SIGKILLed marshal (and with it mpirun) left them running. With their own
 * pdeathsig they die with mpirun's main thread, which forks them and lives as long as mpirun.
 * (Remote ranks hang off orted, which kills them when it loses its lifeline to mpirun.)
 * Not `setpriv --pdeathsig TERM -- mpirun` so that mpirun stops the job itself: a parent with
 * several threads (node) sends the pdeathsig once per exiting thread the child is reparented to,
 * and a second SIGTERM makes mpirun exit at once without stopping its ranks (seen with strace on
 * Open MPI 4.1.4). KILL is the same signal however often it comes.
 */
export const RANK_PDEATHSIG = ['--pdeathsig', 'KILL', '--'] as const;

function mpirunHead(input: CommandInput): string[] {
  const argv = ['mpirun'];
  if (input.coordinatorUid === 0) argv.push('--allow-run-as-root');
  return argv;
}

/** The program words of a rank mpirun starts: under setpriv when it runs on the coordinator. */
function mpirunRank(input: CommandInput, r: PlanRank): string[] {
  const guard =
    r.transport === 'local' && input.coordinatorSetpriv ? [input.coordinatorSetpriv, ...RANK_PDEATHSIG] : [];
  return [...guard, r.python, ...entry(input.script)];
}

/**
 * The ssh user mpirun's daemons log in as. Open MPI 4.1 takes a user only from a hostfile line
 * (`user@host`, orte/util/hostfile/hostfile.c sets ORTE_NODE_USERNAME, which plm_rsh turns into
 * `user@node`); a `--host user@host` is refused by its node-regex builder ("illegal character in
 * the node name", checked against mpirun 4.1.4). One user for every ssh node goes into
 * plm_rsh_args as `-l <user>`; nodes with different users need a `User` line per host in the
 * cluster's ssh config (`ssh.config`), and the plan says so.
 */
function mpirunUser(ranks: readonly PlanRank[]): { user: string | null; mixed: boolean } {
  const users = new Set(ranks.filter((r) => r.transport === 'ssh').map(userOf));
  const [only] = users;
  return users.size === 1 ? { user: only ?? null, mixed: false } : { user: null, mixed: true };
}

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
  const { user, mixed } = mpirunUser(input.ranks);
  if (user !== null && /\s/.test(user))
    throw new InvalidInputError('nodes.host', `${user}@...`, 'an ssh user without spaces');
  const argv = mpirunHead(input);
  const rshArgs = [...rsh.slice(1), ...(user !== null ? ['-l', user] : [])];
  argv.push('--mca', 'plm_rsh_agent', rsh[0]!, '--mca', 'plm_rsh_args', rshArgs.join(' '));
  nodes(input.ranks).forEach((g, i) => {
    const r = g[0]!;
    if (i > 0) argv.push(':');
    argv.push('-np', String(g.length), '--host', `${hostOf(r)}:${g.length}`, '-wdir', r.workdir);
    // MARSHAL_PLAN and the launch env (launch-env.ts) are set on the mpirun process at launch; -x forwards them.
    for (const k of [...Object.keys(env), 'MARSHAL_PLAN', ...LAUNCH_ENV_NAMES]) argv.push('-x', k);
    const ifname = input.interfaces?.[r.node];
    if (ifname) argv.push('-x', `GLOO_SOCKET_IFNAME=${ifname}`);
    argv.push(...mpirunRank(input, r));
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
      mixed
        ? 'the ssh nodes log in as different users: Open MPI 4.1 reads a user only from a hostfile, so put a User line per host in the cluster ssh config (ssh.config)'
        : user !== null
          ? `mpirun's daemons log in as ${user} (ssh -l ${user}: Open MPI 4.1 refuses user@ in --host)`
          : 'mpirun daemons log in with the ssh default user',
      ...pdeathsigNote(input),
    ],
  };
}

function pdeathsigNote(input: CommandInput): string[] {
  return [
    input.coordinatorSetpriv
      ? 'ranks on the coordinator run under setpriv --pdeathsig KILL: none outlives mpirun (which dies with marshal); remote ranks end with their orted'
      : 'no setpriv on the coordinator: if marshal is killed with SIGKILL, the local ranks mpirun forked may outlive it',
  ];
}

/** mlx.launch's backend: `ring` (TCP over the hostfile's `ips`), the one marshal can fill in. */
export const MLX_BACKEND = 'ring';

/**
 * The hostfile entry of one rank, as mlx.launch reads it (ml-explore/mlx
 * python/mlx/_distributed_utils/common.py `Hostfile.from_file`, and the older
 * python/mlx/distributed_run.py `parse_hostfile`): a JSON list, one `{"ssh", "ips"}` object per
 * RANK (the entry's index is its rank: `Host(i, h["ssh"], h.get("ips", []), ...)`), so a node
 * with two slots appears twice. `ssh` is the ssh destination, `user@` kept; the coordinator's own
 * ranks use exactly `127.0.0.1`, the one name `RemoteProcess` starts locally instead of through
 * ssh (`is_local = host == "127.0.0.1"`). `ips` is where the ring backend listens (`ip:port`, one
 * port per rank and ip from --starting-port); it must not be empty (`launch_ring` refuses it).
 */
export function mlxHostfile(ranks: readonly PlanRank[]): Array<{ ssh: string; ips: string[] }> {
  return ranks.map((r) =>
    r.transport === 'local' ? { ssh: '127.0.0.1', ips: ['127.0.0.1'] } : { ssh: r.host, ips: [hostOf(r)] },
  );
}

/**
 * One `mlx.launch` on the coordinator (python/mlx/_distributed_utils/launch.py `main`). What it
 * does with each word, and why the argv is what it is:
 * - `--hostfile hostfile.json`, written next to the plan at launch ({@link mlxHostfile});
 * - `--backend ring`: jaccl needs an `rdma` matrix of device names per host pair
 *   (`launch_jaccl`: every host's `rdma` as long as the host list, null on the diagonal), which
 *   the cluster file does not describe;
 * - `--cwd <workdir>`: every rank `cd`s there (one path for all hosts, an MLX requirement);
 * - `--env K=V`: the only variables that reach ssh ranks (`make_launch_script` exports each one,
 *   keys of letters, digits and `_` only); MLX_RANK and MLX_HOSTFILE are set by mlx.launch itself;
 * - `-- env <python> -m marshal_train <script>`: `main` turns a first word that is an existing
 *   file into `<--python> <its absolute path>` and looks any other word up with `shutil.which`;
 *   `env` keeps the rank's own python and the `-m` entry intact.
 */
function mlxLaunch(input: CommandInput): LaunchCommands {
  const { ranks, script } = input;
  const env = { ...shardsEnv(input), MLX_METAL_FAST_SYNCH: '1', TOKENIZERS_PARALLELISM: 'false' };
  return {
    processes: [
      {
        label: 'mlx.launch',
        node: 'coordinator',
        ranks: ranks.map((r) => r.rank),
        argv: [
          'mlx.launch',
          '--hostfile',
          'hostfile.json',
          '--backend',
          MLX_BACKEND,
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
    hostfile: mlxHostfile(ranks),
    notes: [
      'hostfile.json (one entry per rank) is written next to the plan at launch',
      'the python binary and the script must sit at the same path on every host (an MLX requirement)',
      "backend ring (TCP over each entry's ips); jaccl (RDMA) needs an rdma device matrix the cluster file does not describe",
      'ssh ranks get only the --env variables, not the coordinator environment',
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
      const argv = mpirunHead(input);
      argv.push(
        '-np',
        String(ranks.length),
        '--host',
        groups.map((g) => `${hostOf(g[0]!)}:${g.length}`).join(','),
      );
      argv.push('-wdir', ranks[0]?.workdir ?? input.coordinatorDir);
      // MARSHAL_PLAN and the launch env (launch-env.ts) are set on the mpirun process at launch; -x forwards them.
      for (const k of [...Object.keys(env), 'MARSHAL_PLAN', ...LAUNCH_ENV_NAMES]) argv.push('-x', k);
      argv.push(...(ranks[0] ? mpirunRank(input, ranks[0]) : ['python3', ...entry(script)]));
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
          ...pdeathsigNote(input),
        ],
      };
    }
    case 'mlx':
      return mlxLaunch(input);
    default:
      return assertNever(input.launcher);
  }
}
