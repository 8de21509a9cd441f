/**
 * Fact gathering (effectful): everything the pure planner and pre-flight need, read from the
 * cluster as it is now. Node failures are facts (status 'failed' with a reason), not exceptions;
 * only invalid input (path escapes, an unknown script, a bad calibration file) throws.
 */

import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { readJsonFile } from '../core/atomic-file.ts';
import { assertNever, MarshalError } from '../core/errors.ts';
import {
  type CalibrateOptions,
  type CalibrationReport,
  CalibrationReportSchema,
  calibrateCluster,
} from './calibrate.ts';
import { BUILTIN_BENCHMARK } from './calibration-spread.ts';
import { type CheckpointFact, checkpointFact } from './checkpoint-fact.ts';
import type { Cluster } from './cluster.ts';
import { CODE_HELPER, codeFiles, type NodeManifest, probeCodeManifest } from './code-manifest.ts';
import type { DatasetFact } from './dataset.ts';
import { TRAINING_ERRORS } from './errors.ts';
import { type NodeProbe, probeNode, scriptPathOn } from './node-probe.ts';
import { runSync, type SyncFact } from './sync.ts';

const SETPRIV = '/usr/bin/setpriv';

export interface CalibrationFact {
  source: 'measured' | 'file' | 'plan' | 'skipped';
  file?: string;
  reason?: string;
  report: CalibrationReport | null;
  /** The benchmark the plan expects a calibration file to have run (hardware_layer warns otherwise). */
  expectedBenchmark?: string;
}

/** The world as gathered: the single input of `buildPlan` and `preflight`. */
export interface Facts {
  cluster: Cluster;
  script: string;
  dataset: DatasetFact;
  checkpoint: CheckpointFact | null;
  sync: SyncFact;
  calibration: CalibrationFact;
  probes: NodeProbe[];
  /** The code a launch runs (script, helper, extras) and its hashes on every node. */
  code: { files: string[]; helper: string; nodes: NodeManifest[] };
  /** `setpriv`: the coordinator's util-linux setpriv when present (mpirun runs under its pdeathsig). */
  coordinator: { hostname: string; uid: number | null; setpriv?: string | null };
  gatheredAt: string;
}

export type CalibrationSource =
  | { mode: 'measure'; options: Omit<CalibrateOptions, 'env' | 'signal'> }
  | { mode: 'file'; path: string; benchmark?: string }
  | { mode: 'given'; report: CalibrationReport | null; reason?: string }
  | { mode: 'skip' };

export interface GatherOptions {
  script: string;
  /** Extra code files (relative to each workdir) the launch must find unchanged. */
  code?: readonly string[];
  dataset: DatasetFact;
  checkpointDir?: string;
  calibration: CalibrationSource;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  signal?: AbortSignal;
  now?: () => Date;
  probeTimeoutMs?: number;
  syncTimeoutMs?: number;
  onProgress?: (message: string) => void;
}

async function calibrationFact(cluster: Cluster, options: GatherOptions): Promise<CalibrationFact> {
  const source = options.calibration;
  switch (source.mode) {
    case 'skip':
      return {
        source: 'skipped',
        reason: 'calibration skipped (skipCalibration): equal throughput assumed',
        report: null,
      };
    case 'given':
      return { source: 'plan', report: source.report, ...(source.reason ? { reason: source.reason } : {}) };
    case 'file': {
      const r = await readJsonFile(source.path, CalibrationReportSchema);
      if (r.status !== 'ok') {
        const why = r.status === 'invalid' ? r.issues.join('; ') : r.status;
        throw new MarshalError(TRAINING_ERRORS.E_CALIBRATION_INVALID, `calibration: ${source.path}: ${why}`, {
          details: { field: 'calibration', value: source.path },
        });
      }
      return {
        source: 'file',
        file: source.path,
        report: r.value,
        expectedBenchmark: source.benchmark ?? BUILTIN_BENCHMARK,
      };
    }
    case 'measure': {
      options.onProgress?.('calibrating nodes');
      const report = await calibrateCluster(cluster.nodes, {
        ...source.options,
        env: options.env,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      return { source: 'measured', report };
    }
    default:
      return assertNever(source);
  }
}

/** Gathers every fact. Phases run in the original's order: sync first, then the rest. */
export async function gatherFacts(cluster: Cluster, options: GatherOptions): Promise<Facts> {
  const now = options.now ?? (() => new Date());
  const checkpoint = options.checkpointDir ? await checkpointFact(cluster, options.checkpointDir) : null;
  for (const node of cluster.nodes) await scriptPathOn(node, options.script);
  options.onProgress?.('pre-sync');
  const sync = await runSync(cluster, {
    env: options.env,
    signal: options.signal,
    timeoutMs: options.syncTimeoutMs,
  });
  options.onProgress?.('probing nodes (versions, script hashes)');
  const probes = await Promise.all(
    cluster.nodes.map((n) =>
      probeNode(n, options.script, {
        env: options.env,
        framework: cluster.launcher === 'mlx' ? 'mlx' : 'torch',
        signal: options.signal,
        timeoutMs: options.probeTimeoutMs,
      }),
    ),
  );
  const files = codeFiles(options.script, options.code);
  const manifests = await Promise.all(
    cluster.nodes.map((n) =>
      probeCodeManifest(n, files, {
        env: options.env,
        signal: options.signal,
        ...(options.probeTimeoutMs !== undefined ? { timeoutMs: options.probeTimeoutMs } : {}),
      }),
    ),
  );
  const ok = probes.filter((p) => p.status === 'ok');
  if (ok.length > 0 && ok.every((p) => p.scriptSha256 === null)) {
    throw new MarshalError(
      TRAINING_ERRORS.E_SCRIPT_NOT_FOUND,
      `script: ${JSON.stringify(options.script)} was found on no node (${ok.map((p) => `${p.node}: ${p.scriptError ?? '?'}`).join('; ')})`,
      { details: { field: 'script', value: options.script } },
    );
  }
  const calibration = await calibrationFact(cluster, options);
  return {
    cluster,
    script: options.script,
    dataset: options.dataset,
    checkpoint,
    sync,
    calibration,
    probes,
    code: { files, helper: CODE_HELPER, nodes: manifests },
    coordinator: {
      hostname: hostname(),
      uid: typeof process.getuid === 'function' ? process.getuid() : null,
      setpriv: existsSync(SETPRIV) ? SETPRIV : null,
    },
    gatheredAt: now().toISOString(),
  };
}
