/**
 * What marshal generates for `mlx.launch` (the hostfile and the argv) checked against the parse
 * calls mlx.launch itself makes. MLX cannot run here (no Apple silicon), so the Python validator
 * below re-implements only those calls, from ml-explore/mlx:
 *
 *   python/mlx/_distributed_utils/common.py  Hostfile.from_file: a dict {backend, envs, hosts} or
 *     a list; `Host(i, h["ssh"], h.get("ips", []), h.get("rdma", []))`: one entry per rank.
 *   python/mlx/_distributed_utils/launch.py  main(): the argparse options (--hostfile, --backend,
 *     --env append, --cwd, --python, --starting-port, --connections-per-ip, --no-verify-script)
 *     with `parse_known_args`, the `rest[0] == "--"` pop, the script/command resolution (an
 *     existing file becomes `[args.python, resolved path]`, else `shutil.which`), the backend
 *     choice; launch_ring: every host needs `ips`, `ip:port` per rank from --starting-port;
 *     launch_jaccl: an `rdma` list per host as long as the host list with null on the diagonal;
 *     RemoteProcess: `is_local = host == "127.0.0.1"`; make_launch_script: `export K=<shlex.quote(v)>`
 *     for each --env whose key is letters, digits and `_` (others are dropped with a warning).
 * (The older python/mlx/distributed_run.py parse_hostfile reads the same list form.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCommand } from '../../src/core/run-command.ts';
import { LAUNCH_ENV_NAMES, launchEnv, withLaunchEnv } from '../../src/training/launch/launch-env.ts';
import { prepareProcesses } from '../../src/training/launch/runner.ts';
import { buildPlan } from '../../src/training/plan.ts';
import { cluster, facts, okProbe, TEST_SEAL_KEY } from './plan-facts.ts';

const VALIDATOR = String.raw`
import argparse, json, shlex, shutil, subprocess, sys
from pathlib import Path

hostfile_path, argv = sys.argv[1], json.loads(sys.argv[2])
assert argv[0] == "mlx.launch", argv[0]

# common.py Hostfile.from_file
data = json.load(open(hostfile_path))
backend, envs, hosts = "", [], []
if isinstance(data, dict):
    backend = data.get("backend", backend)
    envs = data.get("envs", envs)
    hosts = data["hosts"]
elif isinstance(data, list):
    hosts = data
hosts = [dict(rank=i, ssh=h["ssh"], ips=h.get("ips", []), rdma=h.get("rdma", [])) for i, h in enumerate(hosts)]

# launch.py main(): the options marshal relies on, declared as mlx.launch declares them
parser = argparse.ArgumentParser()
parser.add_argument("--verbose", action="store_true")
parser.add_argument("--hostfile")
parser.add_argument("--backend")
parser.add_argument("--env", action="append", default=[])
parser.add_argument("--connections-per-ip", default=1, type=int)
parser.add_argument("--starting-port", "-p", type=int, default=32323)
parser.add_argument("--cwd")
parser.add_argument("--no-verify-script", action="store_false", dest="verify_script")
parser.add_argument("--python", default=sys.executable)
args, rest = parser.parse_known_args(argv[1:])
if len(rest) == 0:
    sys.exit("No script is provided")
if rest[0] == "--":
    rest.pop(0)
if backend != "" and args.backend is None:
    args.backend = backend
assert args.backend is not None, "no backend: mlx.launch would pick nccl/ring by the machine"
env = envs + args.env
if (script := Path(rest[0])).exists() and script.is_file():
    rest[0:1] = [args.python, str(script.resolve())]
elif (command := shutil.which(rest[0])) is not None:
    rest[0] = command
else:
    sys.exit(f"Invalid script or command {rest[0]}")

if args.backend == "ring":
    if any(len(h["ips"]) == 0 for h in hosts):
        sys.exit("The ring backend requires IPs to be provided instead of hostnames")
    port, ring = args.starting_port, []
    for h in hosts:
        node = []
        for ip in h["ips"]:
            for _ in range(args.connections_per_ip):
                node.append(f"{ip}:{port}")
                port += 1
        ring.append(node)
elif args.backend in ("jaccl", "jaccl-ring"):
    if not hosts[0]["ips"]:
        sys.exit("Rank 0 should have an IP reachable from all other ranks")
    ok = all(len(h["rdma"]) == len(hosts) for h in hosts) and all(h["rdma"][i] is None for i, h in enumerate(hosts))
    if not ok:
        sys.exit("Malformed hostfile for jaccl backend")
    ring = None
else:
    sys.exit(f"backend {args.backend} is not one marshal generates")

# make_launch_script: the exports a rank's shell runs, through a real bash
exports, expected = "", {}
for e in env:
    key, *value = e.split("=", maxsplit=1)
    if not all(c.isalnum() or c == "_" for c in key):
        sys.exit(f"'{e}' is an invalid environment variable so mlx.launch ignores it")
    exports += f"export {key}={shlex.quote(value[0]) if value else ''}; "
    expected[key] = value[0] if value else ""
seen = json.loads(subprocess.run(["bash", "-c", exports + "exec python3 -c 'import json, os; print(json.dumps(dict(os.environ)))'"],
                                 capture_output=True, text=True, check=True).stdout)
for k, v in expected.items():
    assert seen.get(k) == v, (k, v, seen.get(k))

print(json.dumps({
    "backend": args.backend,
    "cwd": args.cwd,
    "command": rest,
    "env": expected,
    "ranks": [dict(rank=h["rank"], ssh=h["ssh"], local=h["ssh"] == "127.0.0.1", ring=ring[h["rank"]] if ring else None) for h in hosts],
}))
`;

let dir: string;

interface Parsed {
  backend: string;
  cwd: string;
  command: string[];
  env: Record<string, string>;
  ranks: Array<{ rank: number; ssh: string; local: boolean; ring: string[] }>;
}

/** Runs the validator on a hostfile and an mlx.launch argv: what mlx.launch would make of them. */
async function validate(hostfile: unknown, argv: readonly string[]): Promise<Parsed> {
  writeFileSync(join(dir, 'hostfile.json'), JSON.stringify(hostfile));
  const r = await runCommand(
    ['python3', join(dir, 'validate.py'), join(dir, 'hostfile.json'), JSON.stringify(argv)],
    {
      cwd: dir,
      env: process.env,
      timeoutMs: 60_000,
      maxOutputBytes: 1 << 20,
    },
  );
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Parsed;
}

describe('mlx.launch: the hostfile and argv marshal generates parse as mlx.launch parses them', () => {
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'marshal-mlx-format-'));
    writeFileSync(join(dir, 'validate.py'), VALIDATOR);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('one hostfile entry per rank, local ranks on 127.0.0.1, user@ kept, ring backend, env exported', async () => {
    const c = cluster([{ name: 'a', slots: 2 }, { name: 'b' }], { launcher: 'mlx' });
    c.nodes[1] = { ...c.nodes[1]!, host: 'me@10.0.0.2', transport: 'ssh', python: '/opt/mlx/bin/python' };
    c.master = { addr: '10.0.0.1', port: 29500 };
    const plan = buildPlan(facts({ cluster: c, probes: [okProbe('a'), okProbe('b')] }), {
      sealKey: TEST_SEAL_KEY,
      planDir: dir,
    });
    const dc = plan.distributed_config;
    assert.equal(dc.processes.length, 1);
    const parsed = await validate(dc.hostfile, dc.processes[0]!.argv);
    assert.equal(parsed.backend, 'ring');
    // As many mlx ranks as plan ranks, in plan order: the two slots of a, then b over ssh.
    assert.deepEqual(
      parsed.ranks.map((x) => [x.rank, x.ssh, x.local]),
      dc.ranks.map((x) => [
        x.rank,
        x.transport === 'local' ? '127.0.0.1' : 'me@10.0.0.2',
        x.transport === 'local',
      ]),
    );
    assert.equal(parsed.ranks.length, 3);
    assert.deepEqual(
      parsed.ranks.map((x) => x.ring),
      [['127.0.0.1:32323'], ['127.0.0.1:32324'], ['10.0.0.2:32325']],
    );
    assert.equal(parsed.cwd, dc.ranks[0]!.workdir);
    assert.match(parsed.command[0]!, /\/env$/);
    assert.deepEqual(parsed.command.slice(1), ['/usr/bin/python3', '-m', 'marshal_train', 'train.py']);
    assert.equal(parsed.env.WORLD_SIZE, '3');
    assert.deepEqual(
      JSON.parse(parsed.env.MARSHAL_SHARDS!),
      dc.ranks.map((x) => [x.start, x.end, x.batch_size]),
    );
  });

  it('ssh ranks get MARSHAL_PLAN, the launch env and the shards as --env words (the launched argv)', async () => {
    const c = cluster([{ name: 'a' }, { name: 'b' }], { launcher: 'mlx' });
    c.nodes[1] = { ...c.nodes[1]!, host: 'me@10.0.0.2', transport: 'ssh' };
    c.master = { addr: '10.0.0.1', port: 29500 };
    const plan = buildPlan(facts({ cluster: c, probes: [okProbe('a'), okProbe('b')] }), {
      sealKey: TEST_SEAL_KEY,
      planDir: dir,
    });
    plan.checkpoint_strategy = { ...plan.checkpoint_strategy, enabled: true, dir: join(dir, 'my ckpt') };
    // What launch runs: the launch env of attempt 1, then the plan path (a path with a space).
    const planPath = join(dir, 'run 1', 'plan.json');
    const [prepared] = prepareProcesses(withLaunchEnv(plan, launchEnv(plan, 1)), planPath);
    const argv = prepared!.command.argv;
    const parsed = await validate(plan.distributed_config.hostfile, argv);
    assert.equal(parsed.env.MARSHAL_PLAN, planPath);
    assert.equal(parsed.env.MARSHAL_CHECKPOINT_DIR, join(dir, 'my ckpt'));
    assert.equal(parsed.env.MARSHAL_RESTART_ATTEMPT, '1');
    for (const name of LAUNCH_ENV_NAMES) assert.ok(name in parsed.env, name);
    assert.deepEqual(
      JSON.parse(parsed.env.MARSHAL_SHARDS!),
      plan.distributed_config.ranks.map((x) => [x.start, x.end, x.batch_size]),
    );
    // The rank's command is untouched: every --env word sits before the `--`.
    assert.deepEqual(argv.slice(argv.indexOf('--')), [
      '--',
      'env',
      '/usr/bin/python3',
      '-m',
      'marshal_train',
      'train.py',
    ]);
    assert.equal(prepared!.command.env.MARSHAL_PLAN, planPath, 'the 127.0.0.1 ranks inherit it as well');
  });
});
