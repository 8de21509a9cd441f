/**
 * Worker consistency (pure): do all nodes run the same training script? Every node reports the
 * SHA-256 of its copy; the majority hash is the reference (the coordinator's own copy has no
 * special standing). The original's contradictions are resolved explicitly:
 *
 * - agreement >= threshold (default 0.95): pass.
 * - below the threshold but a strict majority (> half) shares one hash: the minority is excluded
 *   (warn) and its work redistributed; agreement among the remaining nodes is then 1.
 * - no strict majority (including "all different" and a 50/50 split): fail. No Krum-on-hashes.
 * - one node: nothing to compare, skipped.
 * A node whose hash could not be read (missing script, unreachable) counts as divergent.
 * With a `reference` hash (what a plan recorded), nodes are judged against it instead of the
 * majority, so `train check` names the node whose copy changed since planning; the plan itself is
 * not changed by a check, so the message says that it still gives those nodes work (re-plan).
 */

export const DEFAULT_CONSISTENCY_THRESHOLD = 0.95;

export interface NodeHash {
  node: string;
  /** Hex SHA-256 of the node's copy, or null when it could not be read. */
  hash: string | null;
  /** Why the hash is missing. */
  error?: string;
}

export interface ConsistencyResult {
  status: 'pass' | 'warn' | 'fail' | 'skipped';
  message: string;
  majorityHash: string | null;
  /** Share of nodes holding the majority hash, before exclusion. */
  agreement: number;
  threshold: number;
  /** Nodes that keep taking part. */
  included: string[];
  /** Nodes excluded as divergent, with their hash (or null) and why. */
  divergent: Array<{ node: string; hash: string | null; reason: string }>;
}

/** Decides consistency from per-node hashes. Pure. */
export function assessConsistency(
  hashes: readonly NodeHash[],
  threshold = DEFAULT_CONSISTENCY_THRESHOLD,
  reference?: string,
): ConsistencyResult {
  const n = hashes.length;
  const counts = new Map<string, number>();
  for (const h of hashes) if (h.hash !== null) counts.set(h.hash, (counts.get(h.hash) ?? 0) + 1);
  // Most common hash; ties broken by the hash text so the result does not depend on node order.
  // With a reference (the hash a plan recorded), that hash is the one every node must match.
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const [majorityHash, majorityCount]: [string | null, number] =
    reference !== undefined ? [reference, counts.get(reference) ?? 0] : (ranked[0] ?? [null, 0]);
  const agreement = n === 0 ? 0 : majorityCount / n;
  const divergentOf = (ref: string | null) =>
    hashes
      .filter((h) => h.hash !== ref || ref === null)
      .map((h) => ({
        node: h.node,
        hash: h.hash,
        reason:
          h.hash === null ? (h.error ?? 'script hash unavailable') : 'script differs from the majority copy',
      }));
  if (n <= 1) {
    const only = hashes[0];
    if (only && only.hash === null) {
      return {
        status: 'fail',
        message: `the script could not be read on ${only.node}: ${only.error ?? 'unknown error'}`,
        majorityHash: null,
        agreement: 0,
        threshold,
        included: [],
        divergent: divergentOf(null),
      };
    }
    if (only && reference !== undefined && only.hash !== reference) {
      return {
        status: 'fail',
        message: `${only.node}: script changed since the plan (${String(only.hash).slice(0, 12)} != ${reference.slice(0, 12)})`,
        majorityHash: reference,
        agreement: 0,
        threshold,
        included: [],
        divergent: divergentOf(reference),
      };
    }
    return {
      status: 'skipped',
      message: 'single node: nothing to compare',
      majorityHash,
      agreement: n === 0 ? 0 : 1,
      threshold,
      included: hashes.map((h) => h.node),
      divergent: [],
    };
  }
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  // Under `train check` nothing is excluded or redistributed: the plan stands until re-planned.
  const changedSincePlan = (nodes: readonly string[]) =>
    `${nodes.join(', ')}: script changed since the plan, which still gives them work ` +
    '(launch refuses changed code); re-plan to exclude them and redistribute their shards';
  if (majorityHash !== null && agreement >= threshold) {
    const off = hashes.filter((h) => h.hash !== majorityHash).map((h) => h.node);
    return {
      status: 'pass',
      message:
        off.length === 0
          ? `all ${n} nodes agree on the script (agreement ${pct(agreement)} >= ${pct(threshold)})`
          : reference !== undefined
            ? `agreement ${pct(agreement)} >= ${pct(threshold)}; ${changedSincePlan(off)}`
            : `agreement ${pct(agreement)} >= ${pct(threshold)}; excluding divergent node(s) ${off.join(', ')}`,
      majorityHash,
      agreement,
      threshold,
      included: hashes.filter((h) => h.hash === majorityHash).map((h) => h.node),
      divergent: divergentOf(majorityHash),
    };
  }
  if (majorityHash !== null && majorityCount * 2 > n) {
    const divergent = divergentOf(majorityHash);
    return {
      status: 'warn',
      message:
        reference !== undefined
          ? `agreement ${pct(agreement)} < ${pct(threshold)}: ${changedSincePlan(divergent.map((d) => d.node))}`
          : `agreement ${pct(agreement)} < ${pct(threshold)}: excluding divergent node(s) ` +
            `${divergent.map((d) => d.node).join(', ')}; their work is redistributed`,
      majorityHash,
      agreement,
      threshold,
      included: hashes.filter((h) => h.hash === majorityHash).map((h) => h.node),
      divergent,
    };
  }
  const differing = majorityHash === null ? hashes : hashes.filter((h) => h.hash !== majorityHash);
  const listed = differing.map(
    (h) => `${h.node} (${h.hash === null ? (h.error ?? 'unreadable') : h.hash.slice(0, 12)})`,
  );
  const what = reference !== undefined ? `the planned script ${reference.slice(0, 12)}` : 'one script';
  return {
    status: 'fail',
    message: `no strict majority of nodes shares ${what} (agreement ${pct(agreement)} of ${n} nodes); differing: ${listed.join(', ')}`,
    majorityHash: reference ?? null,
    agreement,
    threshold,
    included: [],
    divergent: divergentOf(majorityHash),
  };
}
