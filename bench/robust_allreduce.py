"""One rank of bench/robust-allreduce.bench.ts: training steps of python/marshal_benchmark.py's
model (Linear(64, 256), ReLU, Linear(256, 1): 16,897 parameters, batch 64, SGD) whose gradients go
through the plain all-reduce or robust_all_reduce with each rule, interleaved round by round so
every mode sees the same machine load. Rank 0 prints one JSON line:
{"params": P, "world": W, "f": F, "steps": {"plain": [seconds per step, one per round], rule: [...]}}.

Environment: RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (env://), MARSHAL_BENCH_ROUNDS (default 5),
MARSHAL_BENCH_STEPS (steps per round and mode, default 20), MARSHAL_BENCH_RULES (comma list),
MARSHAL_BYZANTINE_F (default 1).
"""

import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

import marshal_robust  # noqa: E402


def main() -> int:
    dist.init_process_group("gloo", init_method="env://", timeout=datetime.timedelta(seconds=300))
    torch.set_num_threads(1)
    rank = dist.get_rank()
    world = dist.get_world_size()
    f = int(os.environ.get("MARSHAL_BYZANTINE_F", "1"))
    rounds = int(os.environ.get("MARSHAL_BENCH_ROUNDS", "5"))
    steps = int(os.environ.get("MARSHAL_BENCH_STEPS", "20"))
    rules = [r for r in os.environ.get("MARSHAL_BENCH_RULES", ",".join(marshal_robust.RULES)).split(",") if r]
    torch.manual_seed(rank)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(64, 64)
    y = torch.randn(64, 1)
    params = list(model.parameters())

    def plain() -> None:
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        flat /= world
        offset = 0
        for p in params:
            k = p.numel()
            p.grad.copy_(flat[offset : offset + k].view_as(p))
            offset += k

    def step(reduce) -> None:
        opt.zero_grad(set_to_none=False)
        torch.nn.functional.mse_loss(model(x), y).backward()
        reduce()
        opt.step()

    modes = {"plain": plain}
    for rule in rules:
        modes[rule] = lambda rule=rule: marshal_robust.robust_all_reduce(model, rule, f)
    for reduce in modes.values():
        step(reduce)  # warm-up
    times = {name: [] for name in modes}
    for _ in range(rounds):
        for name, reduce in modes.items():
            dist.barrier()
            t0 = time.perf_counter()
            for _ in range(steps):
                step(reduce)
            times[name].append((time.perf_counter() - t0) / steps)
    if rank == 0:
        n_params = sum(p.numel() for p in params)
        print(json.dumps({"params": n_params, "world": world, "f": f, "steps": times}), flush=True)
    del model, opt
    dist.barrier()
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
