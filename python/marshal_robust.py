"""marshal's robust gradient aggregation for training ranks (torch, float64).

The seven rules of `marshal train aggregate` (src/training/aggregate/), with the same definitions,
defaults and tie-breaking, so a rank and the coordinator agree to 1e-9 relative
(test/training/robust-python-agreement.test.ts checks it):

    mean               coordinate-wise mean (not robust: the baseline)          n >= f + 1
    median             coordinate-wise median (mean of the two middle values)   n >= 2f + 1
    trimmed-mean       drop `trim` (default f) values at each end, average      f <= trim, n >= 2 trim + 1
    krum               the input with the lowest score: the sum of its squared  n >= 2f + 3
                       distances to its n - f - 2 nearest other inputs
    multi-krum         average of the m (default n - f) lowest-scoring inputs   n >= 2f + 3, 1 <= m <= n - f
    geometric-median   smoothed Weiszfeld from the mean: weights 1 / max(nu, |x_i - z|), stop once a
                       step moves by at most tolerance (1e-9) x the robust scale, at most 1000 steps;
                       nu defaults to 1e-6 x the robust scale (the median over i of the lower median
                       of |x_i - x_j|)                                           n >= 2f + 1
    centered-clipping  from the coordinate-wise median (or `momentum`), L = 3 times
                       v <- v + (1/n) sum_i clip(x_i - v, tau), tau defaulting to the median
                       distance of the inputs to the start point                n >= 2f + 1

An input with a NaN or an infinite value counts as Byzantine: it is left out and counts toward f
(trim too); more than f such inputs, or strict=True, is refused. Distances are taken directly,
sum_k (p (x_i[k] - y[k]))^2 with p an exact power of two per difference (never through a Gram matrix, whose
G_ii + G_jj - 2 G_ij cancels catastrophically), and weighted sums add four inputs at a time in
index order as the TypeScript kernels do, so both round alike.

In a training run, `robust_all_reduce(model, rule, f)` replaces the gradient all-reduce: every rank
all-gathers every rank's flattened gradient (gloo), applies the rule to the same data and writes
the result into each parameter's .grad, so every rank takes the same step. It returns which ranks
the rule rejected (for the run report's Byzantine suspects).
"""

import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterable, List, Optional, Sequence

RULES = ("mean", "median", "trimmed-mean", "krum", "multi-krum", "geometric-median", "centered-clipping")

#: Below this rejection weight an input counts as kept (see RobustResult.rejection).
REJECTED_ABOVE = 0.5


class PreconditionError(ValueError):
    """A rule's precondition does not hold (E_AGGREGATION_PRECONDITION on the TypeScript side)."""

    def __init__(self, rule: str, condition: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.condition = condition


@dataclass
class RobustResult:
    rule: str
    f: int
    result: Any  # torch float64 tensor of length d
    #: krum / multi-krum: chosen inputs, best score first (ties to the lower index).
    selected: Optional[List[int]] = None
    #: krum / multi-krum: every input's score (Infinity for a non-finite input).
    scores: Optional[List[float]] = None
    iterations: Optional[int] = None
    tau: Optional[float] = None
    nu: Optional[float] = None
    #: Inputs with a NaN or infinite value, left out as Byzantine, ascending.
    non_finite: List[int] = field(default_factory=list)
    #: Per input, how much of it the rule discarded, in [0, 1]: 1 for a non-finite input; krum and
    #: multi-krum 1 when not selected; trimmed-mean the fraction of coordinates where its value was
    #: among the `trim` smallest or largest (median: the f smallest or largest); geometric-median
    #: 1 - min(1, n x its final weight); centered-clipping 1 - its last clipping factor; mean 0.
    rejection: List[float] = field(default_factory=list)

    @property
    def rejected(self) -> List[int]:
        """Inputs whose rejection weight is above 0.5, ascending."""
        return [i for i, w in enumerate(self.rejection) if w > REJECTED_ABOVE]


def _torch():
    import torch

    return torch


def _fail(rule: str, condition: str, message: str) -> None:
    raise PreconditionError(rule, condition, message)


def _require_n(rule: str, n: int, f: int, minimum: int, text: str) -> None:
    if n < minimum:
        _fail(rule, text, f"requires {text}, got n = {n}, f = {f} (needs n >= {minimum})")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_preconditions(rule: str, n: int, f: int, m: Optional[int], trim: Optional[int]) -> None:
    if rule == "mean":
        _require_n(rule, n, f, f + 1, "n >= f + 1")
    elif rule in ("median", "geometric-median", "centered-clipping"):
        _require_n(rule, n, f, 2 * f + 1, "n >= 2f + 1")
    elif rule == "trimmed-mean":
        t = f if trim is None else trim
        if not _is_int(t) or t < f:
            _fail(rule, "f <= trim", f"trim must be an integer >= f = {f}, got {t!r}")
        _require_n(rule, n, f, 2 * t + 1, "n >= 2f + 1" if t == f else f"n >= 2 trim + 1 (trim = {t})")
    else:
        _require_n(rule, n, f, 2 * f + 3, "n >= 2f + 3")
        mm = (n - f) if (m is None or rule == "krum") else m
        if not _is_int(mm) or mm < 1 or mm > n - f:
            _fail(rule, "1 <= m <= n - f", f"m must be an integer from 1 to n - f = {n - f}, got {mm!r}")


def check_world(rule: str, world_size: int, f: int, m: Optional[int] = None, trim: Optional[int] = None) -> None:
    """Raises PreconditionError unless `rule` can run over `world_size` ranks with f Byzantine."""
    if rule not in RULES:
        _fail(rule, "known rule", f"unknown rule, expected one of {', '.join(RULES)}")
    if not _is_int(f) or f < 0:
        _fail(rule, "f is a non-negative integer", f"f must be a non-negative integer, got {f!r}")
    _check_preconditions(rule, world_size, f, m, trim)


# ---------------------------------------------------------------------------------------------
# Kernels on an (n, d) float64 tensor X.


def _norms(E: Any) -> List[float]:
    """|e| for every row e of E, each taken directly as sqrt(sum_k (p e[k])^2) / p with p an exact
    power of two that brings the row's largest magnitude into [1/2, 1): no overflow, no
    subnormal collapse, whatever the magnitudes of the other rows."""
    torch = _torch()
    top = torch.maximum(E.amax(dim=1), -E.amin(dim=1))
    ok = (top > 0) & torch.isfinite(top)
    _, e = torch.frexp(torch.where(ok, top, torch.ones_like(top)))
    two = torch.tensor(2.0, dtype=torch.float64)
    if bool((e.abs() <= 1000).all()):
        p = torch.pow(two, (-e).to(torch.float64))
        y = E * p.unsqueeze(1)
        norms = (y * y).sum(dim=1).sqrt() / p
    else:
        # Two factors: 2 ** -e alone leaves float64 for |e| > 1022.
        half = torch.div(e, 2, rounding_mode="floor")
        p1 = torch.pow(two, (-half).to(torch.float64))
        p2 = torch.pow(two, (half - e).to(torch.float64))
        y = E * p1.unsqueeze(1) * p2.unsqueeze(1)
        norms = (y * y).sum(dim=1).sqrt() / p1 / p2
    norms = torch.where(ok, norms, torch.where(top == 0, torch.zeros_like(top), torch.full_like(top, math.inf)))
    return norms.tolist()


def _pairwise(X: Any) -> List[List[float]]:
    """The n x n distances |x_i - x_j|, each taken directly (see _norms)."""
    return [_norms(X - X[i]) for i in range(X.shape[0])]


def _unit(values: Sequence[float]) -> float:
    """A power of two near 1 / (the median positive value): squares of the distances in these units
    neither overflow nor underflow for the inputs that matter (the honest ones when n > 2f)."""
    pos = sorted(x for x in values if 0 < x < math.inf)
    if not pos:
        return 1.0
    e = math.frexp(pos[(len(pos) - 1) >> 1])[1]
    return 2.0 ** -max(-1000, min(1000, e))


def _weighted_sum(X: Any, w: Sequence[float], out: Any = None) -> Any:
    """out + sum_i w_i x_i, four inputs at a time in index order, zero weights skipped (mean.ts)."""
    torch = _torch()
    if out is None:
        out = torch.zeros(X.shape[1], dtype=torch.float64)
    active = [i for i, x in enumerate(w) if x != 0]
    p = 0
    while p + 3 < len(active):
        a, b, c, e = active[p : p + 4]
        out = out + (w[a] * X[a] + w[b] * X[b] + w[c] * X[c] + w[e] * X[e])
        p += 4
    rest = active[p:]
    if len(rest) == 3:
        out = out + (w[rest[0]] * X[rest[0]] + w[rest[1]] * X[rest[1]] + w[rest[2]] * X[rest[2]])
    elif len(rest) == 2:
        out = out + (w[rest[0]] * X[rest[0]] + w[rest[1]] * X[rest[1]])
    elif len(rest) == 1:
        out = out + w[rest[0]] * X[rest[0]]
    return out


def _median_list(xs: Sequence[float]) -> float:
    s = sorted(xs)
    h = len(s) >> 1
    return s[h] if len(s) % 2 else (s[h - 1] + s[h]) / 2


#: Up to this many inputs, columns are sorted by a compare-exchange network of whole rows.
_NETWORK_MAX = 32


def _sorted_rows(X: Any) -> List[Any]:
    """Row r holds every coordinate's value of rank r (ascending): an odd-even transposition
    network of elementwise min / max (exact) for small n, else a sort of the transposed columns."""
    torch = _torch()
    n = X.shape[0]
    if n > _NETWORK_MAX:
        s = X.t().contiguous().sort(dim=1)[0]
        return [s[:, r] for r in range(n)]
    rows = [X[i] for i in range(n)]
    for r in range(n):
        for i in range(r % 2, n - 1, 2):
            a, c = rows[i], rows[i + 1]
            rows[i], rows[i + 1] = torch.minimum(a, c), torch.maximum(a, c)
    return rows


def _coordinate_median(X: Any) -> Any:
    n = X.shape[0]
    s = _sorted_rows(X)
    h = n >> 1
    return s[h].clone() if n % 2 else (s[h - 1] + s[h]) / 2


def _tail_fraction(X: Any, tail: int) -> List[float]:
    """Per input, the fraction of coordinates where its value is among the `tail` smallest or
    largest (ties ranked by input index, as a stable sort would)."""
    n, d = X.shape
    if tail <= 0:
        return [0.0] * n
    out = []
    for i in range(n):
        # rank of x_i in its column: the inputs below it, and the equal ones before it.
        rank = (X < X[i]).sum(dim=0)
        if i > 0:
            rank = rank + (X[:i] == X[i]).sum(dim=0)
        out.append(float(((rank < tail) | (rank >= n - tail)).sum()) / d)
    return out


def _krum(X: Any, f: int, m: int) -> dict:
    n = X.shape[0]
    dist = _pairwise(X)
    g = _unit([x for i, row in enumerate(dist) for j, x in enumerate(row) if j != i])
    k = n - f - 2
    # Ranked in units of g (squares stay finite), reported in the inputs' (possibly Infinity).
    scaled = []
    for i in range(n):
        row = sorted((dist[i][j] * g) ** 2 for j in range(n) if j != i)
        total = 0.0
        for x in row[:k]:
            total += x
        scaled.append(total)
    order = sorted(range(n), key=lambda i: (scaled[i], i))
    selected = order[:m]
    if m == 1:
        result = X[selected[0]].clone()
    else:
        w = [1.0 if i in selected else 0.0 for i in range(n)]
        result = _weighted_sum(X, w) / m
    return {
        "result": result,
        "selected": selected,
        "scores": [x / g / g for x in scaled],
        "rejection": [0.0 if i in selected else 1.0 for i in range(n)],
    }


def robust_scale(X: Any) -> float:
    """Median over i of the lower median of |x_i - x_j| (j != i); when that is 0, the smallest
    positive distance; 0 only when every input is the same (geometric-median.ts robustScale)."""
    n = X.shape[0]
    dist = _pairwise(X)
    per = []
    smallest = math.inf
    for i in range(n):
        row = sorted(dist[i][j] for j in range(n) if j != i)
        for x in row:
            if 0 < x < smallest:
                smallest = x
        per.append(0.0 if not row else row[(len(row) - 1) >> 1])
    per.sort()
    scale = per[(n - 1) >> 1]
    if scale > 0:
        return scale
    return smallest if math.isfinite(smallest) else 0.0


def _geometric_median(X: Any, iterations: Optional[int], tolerance: Optional[float], nu: Optional[float]) -> dict:
    rule = "geometric-median"
    n = X.shape[0]
    cap = 1000 if iterations is None else iterations
    tol = 1e-9 if tolerance is None else tolerance
    if not _is_int(cap) or cap < 1:
        _fail(rule, "iterations >= 1", f"iterations must be a positive integer, got {cap!r}")
    if not (isinstance(tol, (int, float)) and math.isfinite(tol) and tol >= 0):
        _fail(rule, "tolerance >= 0", f"tolerance must be a finite number >= 0, got {tol!r}")
    if nu is not None and not (isinstance(nu, (int, float)) and math.isfinite(nu) and nu > 0):
        _fail(rule, "nu > 0", f"nu must be a positive finite number, got {nu!r}")
    scale = robust_scale(X)
    floor = 1e-6 * scale if nu is None else float(nu)
    # The iterate z = sum_j a_j x_j is formed from the inputs centred on the coordinate-wise
    # median, a point inside the honest cluster, so |x_i - z| is accurate to the honest spread.
    C = X - _coordinate_median(X)
    alpha = [1.0 / n] * n

    def dists(a: Sequence[float]) -> List[float]:
        return _norms(C - _weighted_sum(C, a))

    dist = dists(alpha)
    steps = 0
    while scale > 0 and steps < cap:
        w = [1.0 / max(floor, x) for x in dist]
        total = 0.0
        for x in w:
            total += x
        nxt = [x / total for x in w]
        step = [nxt[i] - alpha[i] for i in range(n)]
        alpha = nxt
        steps += 1
        moved = _norms(_weighted_sum(C, step).unsqueeze(0))[0]
        dist = dists(alpha)
        if moved <= tol * scale:
            break
    return {
        "result": _weighted_sum(X, alpha),
        "iterations": steps,
        "nu": floor,
        "rejection": [1.0 - min(1.0, n * a) for a in alpha],
    }


def _centered_clipping(X: Any, iterations: Optional[int], tau: Optional[float], momentum: Any) -> dict:
    rule = "centered-clipping"
    torch = _torch()
    n, d = X.shape
    steps = 3 if iterations is None else iterations
    if not _is_int(steps) or steps < 1:
        _fail(rule, "iterations >= 1", f"iterations must be a positive integer, got {steps!r}")
    if momentum is None:
        v = _coordinate_median(X)
    else:
        v = torch.as_tensor(momentum, dtype=torch.float64).reshape(-1).clone()
        if v.numel() != d:
            _fail(rule, "equal lengths", f"momentum has length {v.numel()}, inputs have length {d}")
        if not bool(torch.isfinite(v).all()):
            _fail(rule, "finite values", "momentum has a non-finite value")
    dist = _norms(X - v)
    radius = _median_list(dist) if tau is None else tau
    if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius >= 0):
        _fail(rule, "tau >= 0", f"tau must be a finite number >= 0, got {radius!r}")
    clip = [1.0] * n
    for step in range(steps):
        clip = [radius / x if x > radius else 1.0 for x in dist]
        w = [c / n for c in clip]
        kept = 0.0
        for x in w:
            kept += x
        v = _weighted_sum(X, w, v * (1 - kept))
        if step != steps - 1:
            dist = _norms(X - v)
    return {"result": v, "iterations": steps, "tau": float(radius), "rejection": [1.0 - c for c in clip]}


def _run(rule: str, X: Any, f: int, m: Optional[int], trim: Optional[int], options: dict) -> dict:
    n = X.shape[0]
    if rule == "mean":
        return {"result": _weighted_sum(X, [1.0] * n) / n, "rejection": [0.0] * n}
    if rule == "median":
        return {"result": _coordinate_median(X), "rejection": _tail_fraction(X, f)}
    if rule == "trimmed-mean":
        t = f if trim is None else trim
        kept = _sorted_rows(X)[t : n - t]
        total = kept[0].clone()
        for row in kept[1:]:
            total = total + row
        return {"result": total / (n - 2 * t), "rejection": _tail_fraction(X, t)}
    if rule in ("krum", "multi-krum"):
        mm = 1 if rule == "krum" else (n - f if m is None else m)
        return _krum(X, f, mm)
    if rule == "geometric-median":
        return _geometric_median(X, options.get("iterations"), options.get("tolerance"), options.get("nu"))
    return _centered_clipping(X, options.get("iterations"), options.get("tau"), options.get("momentum"))


_OPTIONS = {
    "mean": (),
    "median": (),
    "trimmed-mean": ("trim",),
    "krum": (),
    "multi-krum": ("m",),
    "geometric-median": ("iterations", "tolerance", "nu"),
    "centered-clipping": ("iterations", "tau", "momentum"),
}


def aggregate(rule: str, vectors: Any, f: int, strict: bool = False, **options: Any) -> RobustResult:
    """Aggregates one vector per input (an (n, d) tensor or a list of equal-length vectors).

    Options: m (multi-krum), trim (trimmed-mean), iterations, tolerance, nu (geometric-median),
    iterations, tau, momentum (centered-clipping). Raises PreconditionError naming the rule and
    the condition. Pure: the inputs are not modified.
    """
    torch = _torch()
    if rule not in RULES:
        _fail(rule, "known rule", f"unknown rule, expected one of {', '.join(RULES)}")
    if not _is_int(f) or f < 0:
        _fail(rule, "f is a non-negative integer", f"f must be a non-negative integer, got {f!r}")
    for name in options:
        if name not in _OPTIONS[rule]:
            allowed = ", ".join(_OPTIONS[rule]) or "none"
            _fail(rule, f"{name} only for its rules", f"option {name} does not apply (options: {allowed})")
    if isinstance(vectors, torch.Tensor):
        X = vectors.detach().to(dtype=torch.float64)
    else:
        rows = [torch.as_tensor(v, dtype=torch.float64).reshape(-1) for v in vectors]
        if not rows:
            _fail(rule, "n >= 1", "needs at least one input vector, got none")
        for i, r in enumerate(rows):
            if r.numel() != rows[0].numel():
                _fail(rule, "equal lengths", f"vector {i} has length {r.numel()}, vector 0 has length {rows[0].numel()}")
        X = torch.stack(rows)
    if X.dim() != 2 or X.shape[0] == 0:
        _fail(rule, "n >= 1", "needs an (n, d) batch of input vectors")
    n, d = X.shape
    if d == 0:
        _fail(rule, "d >= 1", "input vectors are empty (length 0)")
    m = options.pop("m", None)
    trim = options.pop("trim", None)
    _check_preconditions(rule, n, f, m, trim)
    finite = torch.isfinite(X).all(dim=1)
    bad = [i for i in range(n) if not bool(finite[i])]
    if bad and strict:
        _fail(rule, "finite values", f"vector {bad[0]} has a non-finite value")
    if len(bad) > f:
        _fail(
            rule,
            "at most f non-finite inputs",
            f"{len(bad)} inputs have non-finite values (vectors {', '.join(map(str, bad))}), more than f = {f}",
        )
    kept = [i for i in range(n) if i not in bad]
    b = len(bad)
    out = _run(rule, X[kept] if bad else X, f - b, m, None if trim is None else trim - b, options)
    rejection = [1.0] * n
    for j, i in enumerate(kept):
        rejection[i] = out["rejection"][j]
    res = RobustResult(rule=rule, f=f, result=out["result"], non_finite=bad, rejection=rejection)
    if "selected" in out:
        res.selected = [kept[j] for j in out["selected"]]
        scores = [math.inf] * n
        for j, i in enumerate(kept):
            scores[i] = out["scores"][j]
        res.scores = scores
    res.iterations = out.get("iterations")
    res.tau = out.get("tau")
    res.nu = out.get("nu")
    return res


# ---------------------------------------------------------------------------------------------
# Inside a training run.


@dataclass
class RobustReduce:
    """What robust_all_reduce did on this step (identical on every rank)."""

    rule: str
    f: int
    #: Global ranks the rule rejected (RobustResult.rejected mapped to ranks), ascending.
    rejected: List[int]
    #: Per rank (in group order) its rejection weight.
    rejection: List[float]
    non_finite: List[int]
    detail: RobustResult

    def telemetry(self) -> dict:
        """Fields for marshal_train.report(**r.telemetry()): the run report counts `rejected`."""
        return {"aggregation": self.rule, "byzantine_f": self.f, "rejected": self.rejected}


def rule_from_env(env: Optional[dict] = None) -> tuple:
    """(rule, f) from MARSHAL_AGGREGATION and MARSHAL_BYZANTINE_F (set by `train launch` from the
    plan); ("mean", 0) when unset."""
    env = os.environ if env is None else env
    rule = env.get("MARSHAL_AGGREGATION") or "mean"
    raw = env.get("MARSHAL_BYZANTINE_F") or "0"
    try:
        f = int(raw)
    except ValueError:
        raise ValueError(f"MARSHAL_BYZANTINE_F must be a non-negative integer, got {raw!r}") from None
    if rule not in RULES:
        raise ValueError(f"MARSHAL_AGGREGATION must be one of {', '.join(RULES)}, got {rule!r}")
    if f < 0:
        raise ValueError(f"MARSHAL_BYZANTINE_F must be a non-negative integer, got {raw!r}")
    return rule, f


def _global_ranks(group: Any, world: int) -> List[int]:
    import torch.distributed as dist

    if group is None:
        return list(range(world))
    get = getattr(dist, "get_global_rank", None) or dist.distributed_c10d._get_global_rank
    return [int(get(group, i)) for i in range(world)]


def robust_all_reduce(
    grads_or_flat_tensor: Any,
    rule: Optional[str] = None,
    f: Optional[int] = None,
    group: Any = None,
    **options: Any,
) -> RobustReduce:
    """Replaces the gradient all-reduce with a robust rule; every rank ends with the same result.

    `grads_or_flat_tensor` is a torch.nn.Module, an iterable of parameters (their .grad is read;
    None counts as zeros, and the aggregate is written back into each .grad), or one flat tensor
    (overwritten in place with the aggregate). rule and f default to the plan's
    (MARSHAL_AGGREGATION, MARSHAL_BYZANTINE_F). Every rank all-gathers every rank's flattened
    gradient (one all_gather on `group`), runs `aggregate(rule, gathered, f)` in float64 and casts
    the result back. The rule's preconditions are checked against the group size first.
    """
    torch = _torch()
    import torch.distributed as dist

    env_rule, env_f = rule_from_env()
    rule = env_rule if rule is None else rule
    f = env_f if f is None else f
    world = dist.get_world_size(group)
    check_world(rule, world, f, options.get("m"), options.get("trim"))
    if isinstance(grads_or_flat_tensor, torch.Tensor):
        params = None
        flat = grads_or_flat_tensor.detach().reshape(-1)
    else:
        src = grads_or_flat_tensor
        params = list(src.parameters() if hasattr(src, "parameters") else src)
        params = [p for p in params if p.requires_grad]
        flat = torch.cat(
            [(p.grad if p.grad is not None else torch.zeros_like(p)).detach().reshape(-1) for p in params]
        )
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat.contiguous(), group=group)
    res = aggregate(rule, torch.stack(gathered).to(torch.float64), f, **options)
    out = res.result.to(flat.dtype)
    if params is None:
        grads_or_flat_tensor.copy_(out.view_as(grads_or_flat_tensor))
    else:
        offset = 0
        for p in params:
            k = p.numel()
            piece = out[offset : offset + k].view_as(p)
            if p.grad is None:
                p.grad = piece.clone()
            else:
                p.grad.copy_(piece)
            offset += k
    ranks = _global_ranks(group, world)
    return RobustReduce(
        rule=rule,
        f=f,
        rejected=[ranks[i] for i in res.rejected],
        rejection=res.rejection,
        non_finite=[ranks[i] for i in res.non_finite],
        detail=res,
    )


def _main(argv: Iterable[str]) -> int:
    """`python3 marshal_robust.py --batch`: reads {"cases": [{rule, f, vectors, options}]} as JSON
    on stdin, prints {"results": [...]} (for the agreement test and quick checks)."""
    import json
    import sys

    torch = _torch()
    args = list(argv)
    if args != ["--batch"]:
        print("usage: marshal_robust.py --batch < cases.json", file=sys.stderr)
        return 2

    def num(x: Any) -> Any:
        if isinstance(x, str):
            return float(x.replace("Infinity", "inf"))
        return x

    def out_num(x: float) -> Any:
        return x if math.isfinite(x) else str(x).replace("inf", "Infinity").replace("nan", "NaN")

    req = json.load(sys.stdin)
    results = []
    for case in req["cases"]:
        vectors = torch.tensor([[num(x) for x in row] for row in case["vectors"]], dtype=torch.float64)
        opts = dict(case.get("options") or {})
        if "momentum" in opts:
            opts["momentum"] = [num(x) for x in opts["momentum"]]
        try:
            r = aggregate(case["rule"], vectors, case["f"], **opts)
        except PreconditionError as e:
            results.append({"error": str(e), "condition": e.condition})
            continue
        results.append(
            {
                "result": [out_num(float(x)) for x in r.result],
                "selected": r.selected,
                "scores": None if r.scores is None else [out_num(x) for x in r.scores],
                "iterations": r.iterations,
                "tau": r.tau,
                "nu": r.nu,
                "nonFinite": r.non_finite,
                "rejected": r.rejected,
            }
        )
    json.dump({"results": results}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
