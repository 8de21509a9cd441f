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

Checkpoints (MARSHAL_CHECKPOINT_DIR): `state, start = mt.resume()` after init_distributed (None, 0
without one), skip the steps before `start`, and `mt.save({"model": model.state_dict(), ...},
step)` on every rank after a step: see save() and resume() below.

Every rank runs exactly `shard.steps` steps with its own batch size (proportional to its share),
so collectives line up even though ranks hold different numbers of examples. Steps past the end
of a shard are empty (`start == end`): still join the all-reduce, with zero gradients.

Environment read (set by marshal per rank): RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
MASTER_ADDR, MASTER_PORT, MARSHAL_SHARD_START, MARSHAL_SHARD_END, MARSHAL_CHUNK_SIZE,
MARSHAL_BATCH_SIZE, MARSHAL_STEPS, MARSHAL_PLAN, MARSHAL_CHECKPOINT_DIR (the plan's checkpoint
directory, when it has one) and MARSHAL_RESTART_ATTEMPT (0, then 1... after `--max-restarts`
restarts). Under launchers that start ranks themselves
(torchrun, mpirun, mlx) the per-rank values come from MARSHAL_SHARDS, a JSON list of
[start, end, batch_size] indexed by rank.
"""

import gc
import hashlib
import json
import math
import os
import re
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Optional, Tuple

METRIC_PREFIX = "MARSHAL_METRIC "
HEARTBEAT_PREFIX = "MARSHAL_HEARTBEAT "
FAILED_PREFIX = "MARSHAL_RANK_FAILED "

# What steps() last yielded, read by the heartbeat thread (see _Heartbeat below).
_progress = {"step": None, "done": False}


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
        _progress["step"] = step
        yield step, s, e
    _progress["done"] = True


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
# Checkpoints: save(state, step) and resume()
#
# Layout under MARSHAL_CHECKPOINT_DIR (the plan's checkpoint_strategy.dir, the same path on every
# node; a shared filesystem or one directory per node both work):
#
#   step-<n>/rank-<r>.pt   each rank's state, written to a temp file in the same directory,
#                          fsynced, then renamed into place (a crash leaves the old file or none)
#   step-<n>/COMPLETE      the manifest, written (atomically) only once every rank has saved step n:
#                          {"schemaVersion": 1, "kind": "marshal.checkpoint", "step", "world_size",
#                           "ranks": [{"rank", "file", "sha256", "bytes"}, ...]}
#
# save() is a collective (every rank calls it at the same steps, like an all-reduce): the ranks
# all-gather the hashes of their files, then each node's LOCAL_RANK 0 writes the manifest on that
# node; after a barrier (every node has its manifest) it deletes the checkpoints older than the
# newest `keep`. resume() takes the newest step that has a manifest and an intact file (sha256) on
# every rank, agreed over the group, so a crash in the middle of a save is never resumed from.
# ---------------------------------------------------------------------------------------------

CHECKPOINT_MANIFEST = "COMPLETE"
RESUME_PREFIX = "MARSHAL_RESUME "
_STEP_DIR = re.compile(r"^step-(\d+)$")
_MANIFEST_MAX_BYTES = 1 << 20


def checkpoint_dir(env: Optional[Mapping[str, str]] = None) -> Optional[str]:
    """The checkpoint directory marshal gave this rank (MARSHAL_CHECKPOINT_DIR), or None."""
    env = os.environ if env is None else env
    return env.get("MARSHAL_CHECKPOINT_DIR") or None


def restart_attempt(env: Optional[Mapping[str, str]] = None) -> int:
    """Which attempt of the job this is: 0 first, 1 after the first restart (`--max-restarts`)."""
    env = os.environ if env is None else env
    return _int(env, "MARSHAL_RESTART_ATTEMPT", "TORCHELASTIC_RESTART_COUNT", default=0)


def _group() -> Tuple[int, int, Any]:
    """(rank, world size, torch.distributed or None when there is no initialized group)."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch is required by save/resume anyway
        dist = None
    if dist is not None and dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size(), dist
    world = _int(os.environ, "WORLD_SIZE", default=1)
    if world > 1:
        raise RuntimeError("call init_distributed() before save() or resume() (the ranks must agree)")
    return _int(os.environ, "RANK", default=0), 1, None


def _gather(value: Any, world: int, dist: Any) -> list:
    if dist is None or world == 1:
        return [value]
    out = [None] * world
    dist.all_gather_object(out, value)
    return out


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path: str, write: Any) -> None:
    """write(file) into a temp file next to `path`, fsync, rename over `path`, fsync the directory."""
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(os.path.dirname(path))


def _sha256_file(path: str) -> Tuple[str, int]:
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
            size += len(block)
    return h.hexdigest(), size


def _read_manifest(step_dir: str) -> Optional[dict]:
    """The manifest of a step directory, or None when it is missing, not a regular file, too big or invalid."""
    path = os.path.join(step_dir, CHECKPOINT_MANIFEST)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            raw = f.read(_MANIFEST_MAX_BYTES + 1)
    finally:
        os.close(fd)
    if len(raw) > _MANIFEST_MAX_BYTES:
        return None
    try:
        m = json.loads(raw)
    except ValueError:
        return None
    if not (isinstance(m, dict) and m.get("kind") == "marshal.checkpoint" and m.get("schemaVersion") == 1
            and isinstance(m.get("step"), int) and isinstance(m.get("ranks"), list)):
        return None
    return m


def _steps_on_disk(directory: str) -> list:
    """[(step, path)] of the step-<n> directories, newest first."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        m = _STEP_DIR.match(name)
        path = os.path.join(directory, name)
        if m and os.path.isdir(path) and not os.path.islink(path):
            found.append((int(m.group(1)), path))
    return sorted(found, reverse=True)


def _own_entry(manifest: dict, rank: int, world: int) -> Optional[dict]:
    if manifest.get("world_size") != world:
        return None
    for e in manifest["ranks"]:
        if isinstance(e, dict) and e.get("rank") == rank and isinstance(e.get("file"), str) \
                and isinstance(e.get("sha256"), str) and isinstance(e.get("bytes"), int):
            # The file name comes from the manifest: only a plain name inside the step directory.
            return e if os.path.basename(e["file"]) == e["file"] else None
    return None


def _keep(keep: Optional[int]) -> int:
    k = keep if keep is not None else _int(os.environ, "MARSHAL_CHECKPOINT_KEEP", default=2)
    if k < 1:
        raise ValueError(f"keep must be >= 1, got {k}")
    return k


def _prune(directory: str, keep: int, rank: int) -> None:
    """Deletes the step directories older than the newest `keep` complete checkpoints."""
    complete = [(n, p) for n, p in _steps_on_disk(directory) if _read_manifest(p) is not None]
    if len(complete) <= keep:
        return
    oldest_kept = complete[keep - 1][0]
    for n, path in _steps_on_disk(directory):
        if n >= oldest_kept:
            continue
        # Renamed first: a peer pruning the same (shared) directory loses the rename and skips it.
        trash = os.path.join(directory, f".trash-step-{n}-{rank}-{os.getpid()}")
        try:
            os.rename(path, trash)
        except OSError:
            continue
        shutil.rmtree(trash, ignore_errors=True)


def save(state: Any, step: int, keep: Optional[int] = None, directory: Optional[str] = None) -> str:
    """Saves this rank's `state` (anything torch.save takes) as the checkpoint of `step`.

    A collective: every rank calls it with the same step. The step counts as saved only once every
    rank's file is on disk and the COMPLETE manifest is written; then the checkpoints older than the
    newest `keep` (default MARSHAL_CHECKPOINT_KEEP, else 2) are deleted. Returns the step directory.
    """
    import torch

    directory = directory or checkpoint_dir()
    if not directory:
        raise ValueError("MARSHAL_CHECKPOINT_DIR is not set (plan with --checkpoint-dir)")
    if not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    keep = _keep(keep)
    rank, world, dist = _group()
    step_dir = os.path.join(directory, f"step-{step}")
    os.makedirs(step_dir, exist_ok=True)
    # A manifest an earlier attempt left for this step no longer describes the files: withdraw it
    # before any file changes (every rank does this before the all-gather below).
    try:
        os.unlink(os.path.join(step_dir, CHECKPOINT_MANIFEST))
    except FileNotFoundError:
        pass
    name = f"rank-{rank}.pt"
    path = os.path.join(step_dir, name)
    _write_atomic(path, lambda f: torch.save(state, f))
    sha, size = _sha256_file(path)
    entries = _gather({"rank": rank, "step": step, "file": name, "sha256": sha, "bytes": size}, world, dist)
    steps_seen = sorted({e["step"] for e in entries})
    if steps_seen != [step]:
        raise RuntimeError(f"save() called with different steps across ranks: {steps_seen}")
    writer = _int(os.environ, "LOCAL_RANK", default=0) == 0
    if writer:
        manifest = {
            "schemaVersion": 1,
            "kind": "marshal.checkpoint",
            "step": step,
            "world_size": world,
            "ranks": [{k: e[k] for k in ("rank", "file", "sha256", "bytes")}
                      for e in sorted(entries, key=lambda e: e["rank"])],
        }
        body = (json.dumps(manifest, indent=2) + "\n").encode()
        _write_atomic(os.path.join(step_dir, CHECKPOINT_MANIFEST), lambda f: f.write(body))
    # Older checkpoints go only once every node has this one's manifest.
    if dist is not None and world > 1:
        dist.barrier()
    if writer:
        _prune(directory, keep, rank)
    return step_dir


def _intact(step_dir: str, rank: int, world: int) -> bool:
    manifest = _read_manifest(step_dir)
    entry = manifest and _own_entry(manifest, rank, world)
    if not entry:
        return False
    try:
        sha, size = _sha256_file(os.path.join(step_dir, entry["file"]))
    except OSError:
        return False
    return sha == entry["sha256"] and size == entry["bytes"]


def resume(directory: Optional[str] = None, map_location: Any = "cpu") -> Tuple[Any, int]:
    """(state, start): the state this rank saved at the newest step every rank has complete and
    intact (manifest present, own file's sha256 matching), and the step to continue from (that
    step + 1). (None, 0) without a checkpoint. A collective when the group is initialized.
    Prints `MARSHAL_RESUME {"rank", "step"}` on stdout so the run report can say where it resumed.
    """
    import torch

    directory = directory or checkpoint_dir()
    rank, world, dist = _group()
    local = []
    if directory:
        for n, path in _steps_on_disk(directory):
            manifest = _read_manifest(path)
            if manifest is not None and manifest.get("step") == n and _own_entry(manifest, rank, world):
                local.append(n)
    candidates = set(local)
    for theirs in _gather(local, world, dist):
        candidates &= set(theirs)
    # Newest first; a step whose file fails its hash on any rank is dropped by all of them.
    for n in sorted(candidates, reverse=True):
        path = os.path.join(directory, f"step-{n}")
        ok = _intact(path, rank, world)
        if not all(_gather(ok, world, dist)):
            continue
        entry = _own_entry(_read_manifest(path), rank, world)
        state = torch.load(os.path.join(path, entry["file"]), map_location=map_location)
        sys.stdout.write(RESUME_PREFIX + json.dumps({"rank": rank, "step": n}, separators=(",", ":")) + "\n")
        sys.stdout.flush()
        return state, n + 1
    return None, 0


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
    # The attempt number: marshal's (--max-restarts restarts the whole job), else torchrun's own.
    attempt = _first(env, ("MARSHAL_RESTART_ATTEMPT", "TORCHELASTIC_RESTART_COUNT"))
    out["MARSHAL_RESTART_ATTEMPT"] = str(attempt[1] if attempt else 0)
    return out


def _rank_or_none() -> Optional[int]:
    try:
        return int(os.environ["RANK"])
    except (KeyError, ValueError):
        return None


def _emit(prefix: str, record: dict) -> None:
    """One protocol line on file descriptor 1, in one os.write (atomic on a pipe below 4 KiB).

    Not through sys.stdout: print() writes its pieces separately, so a line from the heartbeat
    thread could land inside one of the script's lines; and a daemon thread must not hold the
    stdout lock when the interpreter exits.
    """
    data = (prefix + json.dumps(record, separators=(",", ":")) + "\n").encode()
    try:
        os.write(1, data)
    except OSError:
        pass  # stdout closed: the coordinator is gone, nothing to tell


def _in_collective(frame: Any) -> Optional[str]:
    """The torch.distributed function the main thread is inside (its innermost public one), if any.

    A rank blocked in a collective waits for a peer; one outside it while its peers wait is the one
    that stopped. Read from the stack, so any script using torch.distributed is seen, helper or not.
    """
    fallback = None
    while frame is not None:
        code = frame.f_code
        if f"{os.sep}torch{os.sep}distributed{os.sep}" in code.co_filename:
            if not code.co_name.startswith("_") and code.co_name != "wrapper":
                return code.co_name
            fallback = fallback or code.co_name
        frame = frame.f_back
    return fallback


class _Heartbeat:
    """A daemon thread printing `MARSHAL_HEARTBEAT {"rank","step","done","collective","in_collective_s","t"}`
    every MARSHAL_HEARTBEAT_S seconds (default 2; 0 turns it off): the step steps() last yielded,
    whether the loop ended, and the torch.distributed call the main thread is blocked in. The
    coordinator's stall watch tells from these the rank that stopped from the ranks waiting for it
    (a stopped process, SIGSTOP included, sends nothing). Stopped before the interpreter exits: a
    daemon thread holding the stdout lock at shutdown is a fatal error in CPython."""

    def __init__(self) -> None:
        try:
            self.interval = float(os.environ.get("MARSHAL_HEARTBEAT_S", "2"))
        except ValueError:
            raise ContractError(f"MARSHAL_HEARTBEAT_S must be a number, got {os.environ['MARSHAL_HEARTBEAT_S']!r}") from None
        self._stop = threading.Event()
        self._main = threading.main_thread().ident
        self._since: Optional[float] = None
        self._thread = threading.Thread(target=self._run, name="marshal-heartbeat", daemon=True)

    def start(self) -> "_Heartbeat":
        if self.interval > 0:
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=max(1.0, self.interval))

    def beat(self) -> None:
        now = time.time()
        # Run as `python -m marshal_train`, this is __main__; the script's `import marshal_train`
        # is another module object, whose steps() updates its own _progress.
        mod = sys.modules.get("marshal_train")
        progress = getattr(mod, "_progress", _progress)
        collective = _in_collective(sys._current_frames().get(self._main))
        if collective is None:
            self._since = None
        elif self._since is None:
            self._since = now
        _emit(HEARTBEAT_PREFIX, {
            "rank": _rank_or_none(),
            "step": progress["step"],
            "done": progress["done"],
            "collective": collective,
            "in_collective_s": None if self._since is None else round(now - self._since, 3),
            "t": now,
        })

    def _run(self) -> None:
        while True:
            self.beat()
            if self._stop.wait(self.interval):
                return


def _exit_status(code: Any) -> int:
    """The exit status `raise SystemExit(code)` gives (None: 0; an int; anything else: 1)."""
    if code is None:
        return 0
    return code if isinstance(code, int) else 1


def _report_failure(status: int, error: str) -> None:
    """`MARSHAL_RANK_FAILED {"rank","exit","error"}`: the coordinator stops every process at once
    (a launcher such as torchrun would keep the other hosts waiting for their own timeout)."""
    try:
        sys.stdout.flush()  # what the script printed comes first
    except (OSError, ValueError):
        pass
    _emit(FAILED_PREFIX, {"rank": _rank_or_none(), "exit": status, "error": error[:500]})


def main(argv: Optional[list] = None) -> None:
    """`python -m marshal_train script.py args...`: map the launcher's variables, then run the script.

    While the script runs a heartbeat thread reports progress (_Heartbeat); when the script raises
    or exits non-zero, a MARSHAL_RANK_FAILED line says so before the exception goes on.
    """
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
    try:
        heartbeat = _Heartbeat().start()
    except ContractError as e:
        print(f"marshal_train: {e}", file=sys.stderr)
        raise SystemExit(2)
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as e:
        status = _exit_status(e.code)
        if status != 0:
            _report_failure(status, f"exited with {e.code}" if isinstance(e.code, int) else str(e.code))
        raise
    except KeyboardInterrupt:
        raise  # interrupted, not failed
    except BaseException as e:
        _report_failure(1, f"{type(e).__name__}: {e}")
        raise
    finally:
        heartbeat.stop()


if __name__ == "__main__":
    main()
