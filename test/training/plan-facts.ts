/** Builds synthetic `Facts` for the pure planner and pre-flight tests. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CalibrationReport } from '../../src/training/calibrate.ts';
import type { Cluster } from '../../src/training/cluster.ts';
import type { Facts } from '../../src/training/facts.ts';
import type { NodeProbe } from '../../src/training/node-probe.ts';

/** The twelve plan sections the training issue requires, in order. */
export const PLAN_SECTIONS = [
  'strategy',
  'batch_configuration',
  'distributed_config',
  'rdma_config',
  'checkpoint_strategy',
  'performance_targets',
  'verification_steps',
  'pre_rdma_sync',
  'hardware_calibration',
  'worker_consistency',
  'coordinator_chunking',
  'pre_flight_checklist',
];

/** A fixed plan key for the pure planner tests (real launches write theirs with {@link useTestPlanKey}). */
export const TEST_SEAL_KEY = Buffer.alloc(32, 7);

/**
 * Points `env` at a fresh config directory under `dir` holding {@link TEST_SEAL_KEY} as the plan
 * key (0600), so plans built with it verify in launch and check. Returns the env.
 */
export function useTestPlanKey(dir: string): Record<string, string> {
  const config = join(dir, 'config');
  mkdirSync(join(config, 'marshal'), { recursive: true, mode: 0o700 });
  writeFileSync(join(config, 'marshal', 'plan-seal.key'), `${TEST_SEAL_KEY.toString('hex')}\n`, {
    mode: 0o600,
  });
  return { XDG_CONFIG_HOME: config };
}

export const HASH_A = 'a'.repeat(64);
export const HASH_B = 'b'.repeat(64);

export function cluster(
  nodes: Array<{ name: string; slots?: number }>,
  extra: Partial<Cluster> = {},
): Cluster {
  return {
    file: '/c/cluster.yaml',
    dir: '/c',
    launcher: 'direct',
    master: { addr: '127.0.0.1', port: 29500 },
    nodes: nodes.map((n) => ({
      name: n.name,
      host: 'local',
      transport: 'local',
      slots: n.slots ?? 1,
      python: '/usr/bin/python3',
      workdir: `/c/${n.name}`,
    })),
    syncScript: null,
    allowedRoots: [],
    ...extra,
  };
}

export function okProbe(
  node: string,
  hash: string | null = HASH_A,
  torch: string | null = '1.13.0',
): NodeProbe {
  return {
    node,
    status: 'ok',
    python: '3.11.2',
    torch,
    scriptSha256: hash,
    ...(hash ? {} : { scriptError: 'FileNotFoundError' }),
  };
}

export function calibration(throughputs: Record<string, number>): CalibrationReport {
  return {
    schemaVersion: 1,
    kind: 'marshal.calibration',
    benchmark: 'bench.py',
    duration_s: 1,
    repeats: 1,
    measured_at: '2026-01-01T00:00:00.000Z',
    nodes: Object.entries(throughputs).map(([node, t]) => ({
      node,
      status: 'ok' as const,
      throughput: t,
      memory_gb: 0.1,
      latency_ms: 10,
      samples: [t],
    })),
  };
}

/** Two healthy nodes a (100 ex/s) and b (50 ex/s), 120,000 examples, a writable checkpoint dir. */
export function facts(overrides: Partial<Facts> = {}): Facts {
  const c = overrides.cluster ?? cluster([{ name: 'a' }, { name: 'b' }]);
  return {
    cluster: c,
    script: 'train.py',
    dataset: { source: '120000', kind: 'count', file: null, count: 120_000 },
    checkpoint: {
      dir: '/c/ckpt',
      exists: false,
      nearestExisting: '/c',
      writable: true,
      freeBytes: 50 * 2 ** 30,
    },
    sync: { status: 'not_configured' },
    calibration: { source: 'file', report: calibration({ a: 100, b: 50 }) },
    probes: c.nodes.map((n) => okProbe(n.name)),
    code: {
      files: [overrides.script ?? 'train.py', 'marshal_train.py'],
      helper: 'marshal_train.py',
      nodes: c.nodes.map((n) => ({
        node: n.name,
        files: { [overrides.script ?? 'train.py']: HASH_A, 'marshal_train.py': HASH_B },
        errors: {},
      })),
    },
    coordinator: { hostname: 'test', uid: 1000 },
    gatheredAt: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}
