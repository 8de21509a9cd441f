"""marshal's default calibration benchmark: a small PyTorch training step on CPU.

Runs forward + backward + SGD steps on a small MLP with random data for MARSHAL_BENCH_DURATION
seconds (default 5) after a short warm-up, and prints one JSON line as the last line of stdout:

    {"throughput": <examples/s>, "memory_gb": <peak RSS GiB>, "latency_ms": <mean step ms>,
     "model": "mlp-64-256-1-sgd", "batch": <MARSHAL_BENCH_BATCH>}

`model` and `batch` (optional for other benchmarks) say what was measured: the calibration report
records them per node, and the `hardware_layer` pre-flight check warns when nodes ran different
ones (their throughputs would not compare). Any benchmark that prints that line as its last stdout
line can replace this one (`marshal train calibrate --benchmark my_bench.py`).
"""

import json
import os
import resource
import sys
import time


# Names the network below; change it with the network, so old calibrations stop comparing.
MODEL = "mlp-64-256-1-sgd"


def main() -> int:
    duration = float(os.environ.get("MARSHAL_BENCH_DURATION", "5"))
    batch = int(os.environ.get("MARSHAL_BENCH_BATCH", "64"))
    if not duration > 0 or batch < 1:
        print("MARSHAL_BENCH_DURATION must be > 0 and MARSHAL_BENCH_BATCH >= 1", file=sys.stderr)
        return 2
    import torch

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 1))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(batch, 64)
    y = torch.randn(batch, 1)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    steps = 0
    start = time.perf_counter()
    deadline = start + duration
    while True:
        step()
        steps += 1
        now = time.perf_counter()
        if now >= deadline:
            break
    elapsed = now - start
    # ru_maxrss is KiB on Linux (bytes on macOS).
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rss_bytes = rss if sys.platform == "darwin" else rss * 1024
    print(
        json.dumps(
            {
                "throughput": steps * batch / elapsed,
                "memory_gb": rss_bytes / 2**30,
                "latency_ms": elapsed / steps * 1000.0,
                "model": MODEL,
                "batch": batch,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
