/**
 * Byzantine suspects (pure): the ranks whose gradients the robust rule rejected most often.
 *
 * A rank that aggregates with `robust_all_reduce` (python/marshal_robust.py) knows, at every step,
 * which ranks the rule rejected: it reports them in its metric line as `"aggregation": rule,
 * "byzantine_f": f, "rejected": [ranks]`. Every honest rank computes the same rule on the same
 * gathered gradients, so honest ranks report the same lists; a Byzantine rank may lie. The count
 * for a rank is therefore the median, over the ranks that reported, of the number of steps in
 * which they said it was rejected: up to half of the reporters cannot move it.
 */
import { median } from '../robust-stats.ts';

/** What one rank's metric lines said about the rule's rejections. */
export interface RejectionTally {
  rule: string | null;
  f: number | null;
  /** Metric lines that carried a `rejected` list. */
  steps: number;
  /** Rank -> lines in which that rank was listed as rejected. */
  counts: Record<string, number>;
}

/** The robust fields of one metric line, when it has them. */
export interface RobustTelemetry {
  rule: string | null;
  f: number | null;
  rejected: number[];
}

export interface ByzantineSuspects {
  rule: string | null;
  f: number | null;
  /** Steps whose rejections the ranks reported (median over the reporting ranks). */
  steps: number;
  /** Rank -> steps in which the rule rejected its gradient (median over the reporting ranks). */
  rejections: Record<string, number>;
  /**
   * At most f ranks, most often rejected first (ties to the lower rank), each rejected more often
   * than the median rank and in more than half of the steps: the Byzantine suspects.
   */
  suspects: number[];
}

export const emptyTally = (): RejectionTally => ({ rule: null, f: null, steps: 0, counts: {} });

/** Reads `aggregation`, `byzantine_f` and `rejected` from a parsed metric line; null without `rejected`. */
export function robustTelemetry(raw: Record<string, unknown>): RobustTelemetry | null {
  const r = raw.rejected;
  if (!Array.isArray(r) || !r.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0))
    return null;
  const f = raw.byzantine_f;
  return {
    rule: typeof raw.aggregation === 'string' ? raw.aggregation : null,
    f: typeof f === 'number' && Number.isSafeInteger(f) && f >= 0 ? f : null,
    rejected: [...new Set(r as number[])],
  };
}

/** Adds one metric line's rejections to a rank's tally. */
export function tallyRejections(tally: RejectionTally, robust: RobustTelemetry | null | undefined): void {
  if (!robust) return;
  tally.rule = robust.rule ?? tally.rule;
  tally.f = robust.f ?? tally.f;
  tally.steps++;
  for (const r of robust.rejected) tally.counts[String(r)] = (tally.counts[String(r)] ?? 0) + 1;
}

/** The suspects over every rank's tally (ranks in plan order); null when no rank reported rejections. */
export function byzantineSuspects(
  ranks: ReadonlyArray<{ rank: number; tally?: RejectionTally | undefined }>,
): ByzantineSuspects | null {
  const reporting = ranks.filter((r) => r.tally && r.tally.steps > 0).map((r) => r.tally!);
  if (reporting.length === 0) return null;
  const rejections: Record<string, number> = {};
  for (const { rank } of ranks)
    rejections[String(rank)] = median(reporting.map((t) => t.counts[String(rank)] ?? 0));
  const steps = median(reporting.map((t) => t.steps));
  const rules = reporting.map((t) => t.rule);
  const fs = reporting.map((t) => t.f).filter((f): f is number => f !== null);
  const f = fs.length > 0 ? median(fs) : null;
  const typical = median(Object.values(rejections));
  const suspects = ranks
    .map((r) => r.rank)
    .filter((r) => rejections[String(r)]! > typical && rejections[String(r)]! * 2 > steps)
    .sort((a, b) => rejections[String(b)]! - rejections[String(a)]! || a - b)
    .slice(0, Math.floor(f ?? 0));
  return { rule: mostCommon(rules), f, steps, rejections, suspects };
}

function mostCommon(xs: ReadonlyArray<string | null>): string | null {
  const counts = new Map<string, number>();
  for (const x of xs) if (x !== null) counts.set(x, (counts.get(x) ?? 0) + 1);
  let best: string | null = null;
  for (const [x, n] of counts) if (best === null || n > counts.get(best)!) best = x;
  return best;
}
