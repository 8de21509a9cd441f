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
 * - mpirun: one `mpirun` on the coordinator (`--allow-run-as-root` when the coordinator is root);
 *   with ssh nodes, one application context and one Open MPI hostfile per node (see
 *   {@link mpirunHostfiles}).
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

/** Open MPI's hostfile of one node (see {@link mpirunHostfiles}): `mpi-hostfile.<node name>`. */
export const MPI_HOSTFILE_PREFIX = 'mpi-hostfile.';

// What Open MPI 4.1's hostfile lexer reads as one host word (orte/util/hostfile/hostfile_lex.l):
// a user is `[A-Za-z0-9][A-Za-z0-9_-]*` before the `@`; the host an IPv4 address, a name starting
// with a letter (dots allowed), or a word of letters, digits, `_` and `-`. Anything else (a `.` in
// the user, a name such as `1gpu.lab`) lexes as an error token.
const MPI_USER = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;
const MPI_HOST = /^(?:[A-Za-z][A-Za-z0-9_.-]*|[A-Za-z0-9_-]+|\d{1,3}(?:\.\d{1,3}){3})$/;
const NODE_FILE = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The Open MPI hostfile of each node of an mpirun launch with ssh nodes (written next to the plan
 * at launch, runner.ts): one line `[user@]host slots=N`, `localhost` for the coordinator's own.
 * Why a file per node and not `--host`: Open MPI 4.1 takes a node's ssh user only from a hostfile
 * (orte/util/hostfile/hostfile.c `hostfile_parse_line` splits the word on `@` and sets
 * ORTE_NODE_USERNAME; plm_rsh_module.c's launch loop then makes the ssh destination
 * `asprintf(..., "%s@%s", username, node->name)`), and refuses `--host user@host`
 * ("illegal character in the node name"). A `--host` next to a hostfile keeps the name but not
 * the user: checked against mpirun 4.1.4, `--hostfile f --host h:1` ssh'd to `h`, while a
 * context's own `--hostfile` with the one line `alice@h slots=1` ssh'd to `alice@h`. So each
 * application context names its own node's file, which both pins the context to that node and
 * keeps the node's user.
 */
export function mpirunHostfiles(ranks: readonly PlanRank[]): Array<{ name: string; text: string }> {
  if (!ranks.some((r) => r.transport === 'ssh')) return [];
  return nodes(ranks).map((g) => {
    const r = g[0]!;
    if (!NODE_FILE.test(r.node))
      throw new InvalidInputError('ranks.node', r.node, '1-64 letters, digits, "-" or "_" (a file name)');
    const user = userOf(r);
    const host = hostOf(r);
    if (user !== null && !MPI_USER.test(user))
      throw new InvalidInputError(
        'nodes.host',
        r.host,
        'an ssh user of letters, digits, "_" and "-" not starting with "_" (what an Open MPI hostfile reads; or set User in ssh.config)',
      );
    if (!MPI_HOST.test(host))
      throw new InvalidInputError(
        'nodes.host',
        r.host,
        'a host name starting with a letter, or an IPv4 address (what an Open MPI hostfile reads)',
      );
    return {
      name: `${MPI_HOSTFILE_PREFIX}${r.node}`,
      text: `${user ? `${user}@` : ''}${host} slots=${g.length}\n`,
    };
  });
}

/**
 * mpirun with ssh nodes: one application context per node (`-np <slots> --hostfile
 * mpi-hostfile.<node> -wdir <its workdir> -x ... <its python> -m marshal_train <script>`, joined
 * by `:`), so each node runs in its own workdir with its own python and its own
 * GLOO_SOCKET_IFNAME (`-x` with a value applies to its context), and its daemon logs in as the
 * node's own ssh user ({@link mpirunHostfiles}). Open MPI starts its daemons over ssh with the
 * cluster's ssh options (`plm_rsh_agent ssh`, `plm_rsh_args`) and numbers ranks context by
 * context, which is the plan's rank order. `orte_keep_fqdn_hostnames 1`: without it Open MPI
 * strips the domain of every name it reads from a hostfile or --host (hostfile.c and
 * dash_host.c: `if (!orte_keep_fqdn_hostnames && !opal_net_isaddr(name))` cut at the first `.`),
 * so `gpu1.lab.example` would be ssh'd to as `gpu1` (checked against mpirun 4.1.4).
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
  const files = mpirunHostfiles(input.ranks);
  const argv = mpirunHead(input);
  argv.push('--mca', 'plm_rsh_agent', rsh[0]!, '--mca', 'plm_rsh_args', rsh.slice(1).join(' '));
  argv.push('--mca', 'orte_keep_fqdn_hostnames', '1');
  nodes(input.ranks).forEach((g, i) => {
    const r = g[0]!;
    if (i > 0) argv.push(':');
    argv.push('-np', String(g.length), '--hostfile', files[i]!.name, '-wdir', r.workdir);
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
      "one Open MPI hostfile per node (mpi-hostfile.<node>, [user@]host slots=N) is written next to the plan at launch: each node's daemon logs in as that node's ssh user, or the ssh default",
      'host names are kept whole (orte_keep_fqdn_hostnames): Open MPI would otherwise cut gpu1.lab.example to gpu1',
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
 * - `--env K=V`: the only variables that reach ssh ranks. `main` declares it
 *   `add_argument("--env", action="append", default=[])`; `launch_ring` passes `args.env` to every
 *   `RemoteProcess`, whose `make_launch_script` runs `export K=<shlex.quote(V)>` for each entry
 *   (keys of letters, digits and `_` only; a bare `K` exports an empty value, it does not forward
 *   the coordinator's). There is no allow-list and no pass-through of mlx.launch's own environment
 *   over ssh (`ssh -tt <host> <script>`); only a `127.0.0.1` rank, started locally by
 *   `Popen(..., shell=True)`, inherits it. So every variable the rank-side entry reads goes in
 *   `--env`: the plan's (MARSHAL_SHARDS, WORLD_SIZE, MASTER_ADDR/PORT...) here, the launch env
 *   (launch-env.ts) and MARSHAL_PLAN at launch (launch-env.ts withMlxEnv). MLX_RANK and MLX_HOSTFILE are
 *   set by mlx.launch itself. (The older python/mlx/distributed_run.py `make_monitor_script` takes
 *   the same `--env` list, but stores `shlex.quote(V)` as the value: there a value that needs
 *   quoting arrives with its quotes.)
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
      'ssh ranks get only the --env variables, not the coordinator environment: MARSHAL_PLAN and the launch env are added as --env at launch',
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
