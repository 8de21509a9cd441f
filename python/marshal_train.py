"""marshal's training helper: the rank side of the `marshal train launch` contract.

Copy this file next to your training script (it travels with the script to every node). Every
launcher runs the script through it (`python -m marshal_train script.py`, see main() below), so
the contract variables are set whichever launcher started the rank. In the script:

    import marshal_train as mt

    shard = mt.shard_from_env()            # this rank's half-open range [start, end) and batching
    mt.init_distributed()                  # torch.distributed, env:// rendezvous, gloo by default
    model, opt = build()
    for step, start, end in mt.steps(shard):   # the same number of steps on every rank
        ...                                   # train on examples [start, end) (may be empty)
        mt.report(step=step, examples=end - start, loss=loss, grad_norm=norm,
                  param_hash=mt.param_hash(model) if step == shard.steps - 1 else None)
    del model, opt                          # free model and optimizer first,
    mt.teardown()                           # then barrier + destroy_process_group

Every rank runs exactly `shard.steps` steps with its own batch size (proportional to its share),
so collectives line up even though ranks hold different numbers of examples. Steps past the end
of a shard are empty (`start == end`): still join the all-reduce, with zero gradients.

Environment read (set by marshal per rank): RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
MASTER_ADDR, MASTER_PORT, MARSHAL_SHARD_START, MARSHAL_SHARD_END, MARSHAL_CHUNK_SIZE,
MARSHAL_BATCH_SIZE, MARSHAL_STEPS, MARSHAL_PLAN. Under launchers that start ranks themselves
(torchrun, mpirun, mlx) the per-rank values come from MARSHAL_SHARDS, a JSON list of
[start, end, batch_size] indexed by rank.
"""

import gc
import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Tuple

METRIC_PREFIX = "MARSHAL_METRIC "


@dataclass(frozen=True)
class Shard:
    rank: int
    world_size: int
    local_rank: int
    start: int
    end: int
    batch_size: int
    steps: int
    chunk_size: int

    @property
    def examples(self) -> int:
        return self.end - self.start


def _int(env: Mapping[str, str], *names: str, default: Optional[int] = None) -> int:
    for name in names:
        value = env.get(name)
        if value not in (None, ""):
            try:
                return int(value)
            except ValueError:
                raise ValueError(f"{name} must be an integer, got {value!r}") from None
    if default is None:
        raise ValueError(f"{names[0]} is not set (launch this script with marshal train launch)")
    return default


def shard_from_env(env: Optional[Mapping[str, str]] = None) -> Shard:
    """Reads this rank's shard and batching from the environment marshal sets."""
    env = os.environ if env is None else env
    rank = _int(env, "RANK", "OMPI_COMM_WORLD_RANK", "MLX_RANK")
    world = _int(env, "WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "MLX_WORLD_SIZE", default=1)
    local_rank = _int(env, "LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", default=0)
    if env.get("MARSHAL_SHARD_START") not in (None, ""):
        start = _int(env, "MARSHAL_SHARD_START")
        end = _int(env, "MARSHAL_SHARD_END")
        batch = _int(env, "MARSHAL_BATCH_SIZE", default=32)
    else:
        table = json.loads(env.get("MARSHAL_SHARDS", "[]"))
        if not 0 <= rank < len(table):
            raise ValueError(f"no shard for rank {rank} in MARSHAL_SHARDS ({len(table)} entries)")
        start, end, batch = (int(v) for v in table[rank])
    if not 0 <= start <= end:
        raise ValueError(f"invalid shard [{start}, {end})")
    if batch < 1:
        raise ValueError(f"MARSHAL_BATCH_SIZE must be >= 1, got {batch}")
    steps = _int(env, "MARSHAL_STEPS", default=max(1, math.ceil((end - start) / batch)))
    chunk = _int(env, "MARSHAL_CHUNK_SIZE", default=0)
    return Shard(rank, world, local_rank, start, end, batch, steps, chunk)


def steps(shard: Shard, log: Any = sys.stderr) -> Iterator[Tuple[int, int, int]]:
    """Yields (step, start, end) for exactly shard.steps steps; ranges may be empty at the tail.

    When MARSHAL_CHUNK_SIZE is set, entering a new coordinator chunk frees memory (gc.collect)
    and prints "Processing chunk i/N (p% complete)" on stderr.
    """
    n_chunks = math.ceil(shard.examples / shard.chunk_size) if shard.chunk_size > 0 else 0
    current_chunk = -1
    for step in range(shard.steps):
        s = min(shard.start + step * shard.batch_size, shard.end)
        e = min(s + shard.batch_size, shard.end)
        if n_chunks and e > s:
            idx = (s - shard.start) // shard.chunk_size
            if idx != current_chunk:
                current_chunk = idx
                gc.collect()
                pct = (idx + 1) * 100 // n_chunks
                print(f"rank {shard.rank}: Processing chunk {idx + 1}/{n_chunks} ({pct}% complete)", file=log)
        yield step, s, e


def _number(value: Any) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def report(step: int, examples: int, loss: Any, grad_norm: Any, param_hash: Optional[str] = None, **extra: Any) -> None:
    """Prints one telemetry line on stdout: MARSHAL_METRIC {"rank", "step", "examples", ...}.

    Non-finite loss or grad norm is sent as the strings "NaN"/"Infinity" (JSON has no NaN).
    """
    record = {
        "rank": int(os.environ.get("RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))),
        "step": int(step),
        "examples": int(examples),
        "loss": _number(loss),
        "grad_norm": _number(grad_norm),
        "param_hash": param_hash,
    }
    record.update(extra)
    sys.stdout.write(METRIC_PREFIX + json.dumps(record, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def param_hash(model: Any) -> str:
    """SHA-256 over the model's parameters (names, shapes and float bytes), identical across ranks in sync."""
    h = hashlib.sha256()
    for name, p in sorted(model.state_dict().items()):
        t = p.detach().cpu().contiguous()
        h.update(name.encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def init_distributed(backend: Optional[str] = None, timeout_s: Optional[float] = None) -> None:
    """torch.distributed.init_process_group over env:// (gloo unless MARSHAL_BACKEND says otherwise)."""
    import datetime

    import torch.distributed as dist

    # mpirun / mlx.launch start ranks with their own variables; env:// needs RANK and WORLD_SIZE.
    for ours, theirs in (("RANK", ("OMPI_COMM_WORLD_RANK", "MLX_RANK")),
                         ("WORLD_SIZE", ("OMPI_COMM_WORLD_SIZE", "MLX_WORLD_SIZE")),
                         ("LOCAL_RANK", ("OMPI_COMM_WORLD_LOCAL_RANK",))):
        if not os.environ.get(ours):
            for name in theirs:
                if os.environ.get(name):
                    os.environ[ours] = os.environ[name]
                    break
    backend = backend or os.environ.get("MARSHAL_BACKEND", "gloo")
    timeout = float(timeout_s or os.environ.get("MARSHAL_INIT_TIMEOUT", "120"))
    dist.init_process_group(backend=backend, init_method="env://", timeout=datetime.timedelta(seconds=timeout))


def teardown() -> None:
    """Barrier, then destroy the process group. Free model and optimizer before calling this:
    torch 1.13's gloo can hang at exit when tensors still reference the group."""
    import torch.distributed as dist

    gc.collect()
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def robust_all_reduce(grads_or_flat_tensor: Any, rule: Optional[str] = None, f: Optional[int] = None,
                      group: Any = None, **options: Any) -> Any:
    """A Byzantine-robust gradient all-reduce (marshal_robust.py, shipped next to this file):
    every rank all-gathers every rank's flattened gradient, applies `rule` tolerating `f`
    Byzantine ranks (default: the plan's MARSHAL_AGGREGATION / MARSHAL_BYZANTINE_F, else mean
    with f = 0) and writes the result into each .grad, so every rank takes the same step.
    Returns a RobustReduce; pass `**r.telemetry()` to report() so the run report can name the
    ranks the rule rejected most often (Byzantine suspects)."""
    from marshal_robust import robust_all_reduce as reduce

    return reduce(grads_or_flat_tensor, rule, f, group, **options)


# ---------------------------------------------------------------------------------------------
# The rank-side entry: `python -m marshal_train script.py args...`
#
# Every launcher marshal drives starts ranks with its own variables. The entry maps them to one
# contract, then runs the script as `python script.py args...` would (runpy, as __main__), so a
# script that reads only RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT and
# MARSHAL_SHARD_START/END works unchanged under each of them:
#
#   direct    marshal sets the whole contract per rank
#   torchrun  RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR/PORT (torch elastic)
#   mpirun    OMPI_COMM_WORLD_RANK/SIZE/LOCAL_RANK/LOCAL_SIZE (Open MPI); PMI_RANK/PMI_SIZE,
#             MPI_LOCALRANKID/MPI_LOCALNRANKS (MPICH, Intel MPI); PMIX_RANK
#   mlx       MLX_RANK (mlx.launch, every backend); MLX_WORLD_SIZE (nccl), else the length of
#             the JSON list in the file MLX_HOSTFILE (ring) or MLX_IBV_DEVICES (jaccl) names
#
# The shard of each rank comes from MARSHAL_SHARDS ([[start, end, batch], ...] indexed by rank)
# when the launcher did not set MARSHAL_SHARD_START/END per rank.
# ---------------------------------------------------------------------------------------------

_RANK_VARS = ("RANK", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK", "MLX_RANK")
_WORLD_VARS = ("WORLD_SIZE", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "MLX_WORLD_SIZE")
_LOCAL_RANK_VARS = ("LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID")
_LOCAL_WORLD_VARS = ("LOCAL_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS")


class ContractError(ValueError):
    """The launcher's environment cannot be mapped to marshal's contract."""


def _first(env: Mapping[str, str], names: Tuple[str, ...]) -> Optional[Tuple[str, int]]:
    for name in names:
        value = env.get(name)
        if value not in (None, ""):
            try:
                return name, int(value)
            except ValueError:
                raise ContractError(f"{name} must be an integer, got {value!r}") from None
    return None


def _mlx_world(env: Mapping[str, str]) -> Optional[int]:
    for name in ("MLX_HOSTFILE", "MLX_IBV_DEVICES"):
        path = env.get(name)
        if path:
            try:
                with open(path) as f:
                    text = f.read().strip()
            except OSError as e:
                raise ContractError(f"{name}={path!r} cannot be read: {e}") from None
            # mlx.launch writes "" for a single host.
            return len(json.loads(text)) if text else 1
    return None


def contract_env(env: Optional[Mapping[str, str]] = None) -> dict:
    """The contract variables for this rank, from whichever launcher started it (see above).

    Returns only the variables to set; raises ContractError naming what is missing or wrong.
    """
    env = os.environ if env is None else env
    out = {}
    rank = _first(env, _RANK_VARS)
    if rank is None:
        raise ContractError(
            "no rank in the environment (RANK, OMPI_COMM_WORLD_RANK, PMI_RANK, PMIX_RANK or MLX_RANK): "
            "start this through marshal train launch"
        )
    out["RANK"] = str(rank[1])
    table = None
    if env.get("MARSHAL_SHARDS"):
        try:
            table = json.loads(env["MARSHAL_SHARDS"])
        except ValueError:
            raise ContractError("MARSHAL_SHARDS is not JSON") from None
    world = _first(env, _WORLD_VARS)
    if world is not None:
        world_size = world[1]
    elif "MLX_RANK" in env and _mlx_world(env) is not None:
        world_size = _mlx_world(env)
    elif table is not None:
        world_size = len(table)
    else:
        world_size = 1
    if table is not None and world_size != len(table):
        raise ContractError(
            f"the launcher started {world_size} ranks but the plan has {len(table)} (MARSHAL_SHARDS)"
        )
    if not 0 <= rank[1] < world_size:
        raise ContractError(f"rank {rank[1]} ({rank[0]}) is outside a world of {world_size}")
    out["WORLD_SIZE"] = str(world_size)
    local = _first(env, _LOCAL_RANK_VARS)
    out["LOCAL_RANK"] = str(local[1] if local else 0)
    local_world = _first(env, _LOCAL_WORLD_VARS)
    out["LOCAL_WORLD_SIZE"] = str(local_world[1] if local_world else 1)
    if env.get("MARSHAL_SHARD_START") in (None, ""):
        if table is None:
            raise ContractError("neither MARSHAL_SHARD_START/END nor MARSHAL_SHARDS is set")
        entry = table[rank[1]]
        out["MARSHAL_SHARD_START"] = str(int(entry[0]))
        out["MARSHAL_SHARD_END"] = str(int(entry[1]))
        out["MARSHAL_BATCH_SIZE"] = str(int(entry[2]))
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if env.get(name) in (None, ""):
            raise ContractError(f"{name} is not set")
    return out


def main(argv: Optional[list] = None) -> None:
    """`python -m marshal_train script.py args...`: map the launcher's variables, then run the script."""
    import runpy

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print("usage: python -m marshal_train <script.py> [args...]", file=sys.stderr)
        raise SystemExit(2)
    try:
        os.environ.update(contract_env())
    except ContractError as e:
        print(f"marshal_train: {e}", file=sys.stderr)
        raise SystemExit(2)
    script = args[0]
    # As `python script.py` would: argv[0] is the script, its directory heads sys.path.
    sys.argv = args
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
