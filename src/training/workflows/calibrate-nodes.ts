/**
 * The `train calibrate` use case: load the cluster file and run the benchmark on every node.
 * Per-node failures are data in the report; {@link calibrationSucceeded} says whether any node
 * was measured (the CLI exits 1 when none was).
 */
import { type CalibrationReport, calibrateCluster } from '../calibrate.ts';
import { loadCluster } from '../cluster.ts';
import { checkNumberSetting, TRAINING_SETTINGS } from '../settings.ts';

export interface CalibrateNodesOptions {
  /** Cluster file (relative to `cwd`). */
  cluster: string;
  /** Benchmark script relative to each node's workdir; the shipped PyTorch step when omitted. */
  benchmark?: string;
  durationS?: number;
  repeats?: number;
  /** Runs of the second round for a noisy node (default: `repeats`; 0: no second round). */
  remeasureRepeats?: number;
  /** Bound on one benchmark run in seconds (default: duration + 120). */
  benchmarkTimeoutS?: number;
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  signal?: AbortSignal;
  onNodeStart?: (node: string) => void;
}

/** Calibrates every node of a cluster file. */
export async function calibrateNodes(options: CalibrateNodesOptions): Promise<CalibrationReport> {
  const durationS = checkNumberSetting('durationS', options.durationS) ?? TRAINING_SETTINGS.durationS.default;
  const repeats = checkNumberSetting('repeats', options.repeats) ?? TRAINING_SETTINGS.repeats.default;
  const timeoutS = checkNumberSetting('benchmarkTimeoutS', options.benchmarkTimeoutS);
  const remeasureRepeats = checkNumberSetting('remeasureRepeats', options.remeasureRepeats);
  const cluster = await loadCluster(options.cluster, { cwd: options.cwd, env: options.env });
  return calibrateCluster(cluster.nodes, {
    ...(options.benchmark !== undefined ? { benchmark: options.benchmark } : {}),
    durationS,
    repeats,
    ...(remeasureRepeats !== undefined ? { remeasureRepeats } : {}),
    ...(timeoutS !== undefined ? { timeoutMs: timeoutS * 1000 } : {}),
    env: options.env,
    ...(options.signal ? { signal: options.signal } : {}),
    onEvent: (e) => {
      if (e.type === 'node-start') options.onNodeStart?.(e.node);
    },
  });
}

/** True when at least one node was measured. */
export function calibrationSucceeded(report: Pick<CalibrationReport, 'nodes'>): boolean {
  return report.nodes.some((n) => n.status === 'ok');
}
