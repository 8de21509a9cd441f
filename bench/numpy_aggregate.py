"""NumPy baseline for bench/aggregate.bench.ts: the same rules, the same algorithms, the same data.

Usage: /usr/bin/python3 bench/numpy_aggregate.py <data.bin> <n> <d> <float32|float64> <f> <repeats> <rule,...>
Loads the n x d row-major matrix with numpy.fromfile and prints one JSON object per rule:
{"rule": {"seconds": [...], "cpu_seconds": [...], "result_head": [...], "result_sum": x, "selected": [...]}}.

Or: ... numpy_aggregate.py --serve <data.bin> <n> <d> <float32|float64> <f>: loads the data once,
prints "ready", then answers each stdin line "<rule> <repeats>" with one line holding that rule's
JSON object (one untimed call first, then <repeats> timed ones), until stdin closes. The bench
uses this to interleave the two sides rule by rule, so that load from other work on a shared
machine falls on both.
A request line "<rule> <repeats> out" makes the rule write its result into one float64 array
allocated once (NumPy's out= where the rule's last operation takes it), like marshal's `out` option.

Each rule is written as a NumPy user would write it, in float64 like the TypeScript version, and
in column chunks where a whole-matrix float64 temporary would need gigabytes (n = 32, d = 1e7).
Krum and the geometric median use a centred Gram matrix (the fast way to write them in NumPy) and
the geometric median the weight-space Weiszfeld iteration; marshal takes every distance directly,
which costs more arithmetic and keeps the honest distances exact next to a far outlier (README,
"Precision"), so these ratios are against a faster but less precise baseline.
"""

import json
import sys
import time

import numpy as np

CHUNK = 1 << 16


def mean(X, f, out=None):
    return X.mean(axis=0, dtype=np.float64, out=out), None


def median(X, f, out=None):
    if out is not None:
        return np.median(X, axis=0, out=out), None
    return np.median(X, axis=0).astype(np.float64), None


def trimmed_mean(X, f, out=None):
    n = X.shape[0]
    if f == 0:
        return X.mean(axis=0, dtype=np.float64, out=out), None
    P = np.partition(X, (f, n - f - 1), axis=0)
    return P[f : n - f].mean(axis=0, dtype=np.float64, out=out), None


def centred_gram(X):
    n, d = X.shape
    G = np.zeros((n, n))
    for k in range(0, d, CHUNK):
        U = X[:, k : k + CHUNK].astype(np.float64)
        U -= U[0]
        G += U @ U.T
    return G


def weighted_sum(X, w, out=None):
    d = X.shape[1]
    if out is None:
        out = np.empty(d)
    for k in range(0, d, CHUNK):
        out[k : k + CHUNK] = w @ X[:, k : k + CHUNK].astype(np.float64)
    return out


def krum_scores(X, f):
    n = X.shape[0]
    G = centred_gram(X)
    g = np.diag(G)
    D = np.maximum(g[:, None] + g[None, :] - 2 * G, 0)
    np.fill_diagonal(D, np.inf)
    return np.sort(D, axis=1)[:, : n - f - 2].sum(axis=1)


def krum(X, f, out=None):
    scores = krum_scores(X, f)
    best = int(np.argsort(scores, kind="stable")[0])
    if out is not None:
        np.copyto(out, X[best])
        return out, [best]
    return X[best].astype(np.float64), [best]


def multi_krum(X, f, out=None):
    n = X.shape[0]
    scores = krum_scores(X, f)
    selected = np.argsort(scores, kind="stable")[: n - f]
    result = X[np.sort(selected)].mean(axis=0, dtype=np.float64, out=out)
    return result, [int(i) for i in selected]


def geometric_median(X, f, out=None, cap=1000, tol=1e-9):
    n = X.shape[0]
    G = centred_gram(X)
    g = np.diag(G)
    D = np.maximum(g[:, None] + g[None, :] - 2 * G, 0)
    off = np.sort(D + np.diag(np.full(n, np.inf)), axis=1)[:, : n - 1]
    scale = np.sort(np.sqrt(off[:, (n - 2) >> 1]))[(n - 1) >> 1] if n > 1 else 0.0
    if scale == 0:
        pos = D[D > 0]
        scale = np.sqrt(pos.min()) if pos.size else 0.0
    nu = 1e-6 * scale
    alpha = np.full(n, 1 / n)

    def dists(a):
        ga = G @ a
        return np.sqrt(np.maximum(g - 2 * ga + a @ ga, 0))

    dist = dists(alpha)
    for _ in range(cap if scale > 0 else 0):
        w = 1 / np.maximum(nu, dist)
        nxt = w / w.sum()
        step = nxt - alpha
        alpha = nxt
        moved = np.sqrt(max(step @ G @ step, 0))
        dist = dists(alpha)
        # The same stopping rule as marshal: the move against the robust scale.
        if moved <= tol * scale:
            break
    return weighted_sum(X, alpha, out), None


def centered_clipping(X, f, out=None, steps=3):
    n, d = X.shape
    if out is None:
        v = np.median(X, axis=0).astype(np.float64)
        scratch = None
    else:
        # With a result buffer: the median into it, each step's weighted sum into one scratch array
        # and the update in place (the same operations, so the same rounding).
        v = np.median(X, axis=0, out=out)
        scratch = np.empty(d)

    def dists(v):
        acc = np.zeros(n)
        for k in range(0, d, CHUNK):
            E = X[:, k : k + CHUNK] - v[k : k + CHUNK]
            acc += np.einsum("ij,ij->i", E, E)
        return np.sqrt(acc)

    dist = dists(v)
    tau = np.median(dist)
    for step in range(steps):
        c = np.where(dist > tau, tau / np.where(dist > 0, dist, 1), 1.0)
        w = c / n
        if scratch is None:
            v = (1 - w.sum()) * v + weighted_sum(X, w)
        else:
            v *= 1 - w.sum()
            v += weighted_sum(X, w, scratch)
        if step < steps - 1:
            dist = dists(v)
    return v, None


RULES = {
    "mean": mean,
    "median": median,
    "trimmed-mean": trimmed_mean,
    "krum": krum,
    "multi-krum": multi_krum,
    "geometric-median": geometric_median,
    "centered-clipping": centered_clipping,
}


def timed(X, f, rule, repeats, warm, out=None):
    fn = RULES[rule]
    if warm:
        fn(X, f, out)
    seconds = []
    cpu = []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        result, selected = fn(X, f, out)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "result_head": [float(x) for x in result[:4]],
        "result_sum": float(result.sum()),
        "selected": selected,
    }


def serve():
    path, n, d, dtype, f = sys.argv[2:7]
    n, d, f = int(n), int(d), int(f)
    X = np.fromfile(path, dtype=np.dtype(dtype)).reshape(n, d)
    print("ready", flush=True)
    out = None
    for line in sys.stdin:
        words = line.split()
        rule, repeats = words[:2]
        if words[2:] == ["out"] and out is None:
            out = np.empty(d)
        print(json.dumps(timed(X, f, rule, int(repeats), True, out if words[2:] == ["out"] else None)), flush=True)


def main():
    if sys.argv[1] == "--serve":
        serve()
        return
    path, n, d, dtype, f, repeats, rules = sys.argv[1:8]
    n, d, f, repeats = int(n), int(d), int(f), int(repeats)
    X = np.fromfile(path, dtype=np.dtype(dtype)).reshape(n, d)
    out = {rule: timed(X, f, rule, repeats, False) for rule in rules.split(",")}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
