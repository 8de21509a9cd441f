/**
 * Pre-flight checklist (pure): the original's eight checks, in its order, each
 * `pass | warn | fail | skipped` with a message and a fix command. A check whose inputs are
 * missing is `skipped`, never a vacuous pass. Overall: any fail -> fail, else any warn -> warn.
 */

import { assertNever } from '../core/errors.ts';
import { quoteShellCommand } from '../core/shell-quote.ts';
import { type AggregationChoice, aggregationPrecondition } from './aggregation-plan.ts';
import {
  benchmarkMismatches,
  calibrationAgeDays,
  calibrationNoise,
  MAX_CALIBRATION_AGE_DAYS,
  noiseWarnings,
} from './calibration-quality.ts';
import type { Facts } from './facts.ts';
import { type Layout, type LayoutOptions, layoutRanks } from './layout.ts';
import { sshCommand } from './transport.ts';

export const CHECK_NAMES = [
  'hardware_layer',
  'worker_layer',
  'checkpoint_layer',
  'gradient_layer',
  'performance_layer',
  'health_check',
  'pre_rdma_sync',
  'worker_consistency',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];
export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skipped';

export interface PreflightCheck {
  name: CheckName;
  status: CheckStatus;
  message: string;
  fix_command: string | null;
}

export interface PreflightResult {
  checks: PreflightCheck[];
  overall_status: 'pass' | 'warn' | 'fail';
  block_on_failure: true;
}

export interface PreflightOptions extends LayoutOptions {
  /** Free space the checkpoint directory needs (default 1 GiB). */
  minFreeBytes?: number;
  /** Step latency above which performance warns (default 500 ms, the original's threshold). */
  maxLatencyMs?: number;
  /** Coefficient of variation of throughputs above which performance warns (default 0.2). */
  maxThroughputCv?: number;
  /** A layout already computed from the same facts. */
  layout?: Layout;
  /** The gradient rule and f the ranks use: gradient_layer fails when the world size cannot run it. */
  aggregation?: AggregationChoice;
}

const GiB = 2 ** 30;
const check = (
  name: CheckName,
  status: CheckStatus,
  message: string,
  fix: string | null = null,
): PreflightCheck => ({
  name,
  status,
  message,
  fix_command: fix,
});

function hardware(facts: Facts): PreflightCheck {
  const report = facts.calibration.report;
  if (!report)
    return check(
      'hardware_layer',
      'skipped',
      facts.calibration.reason ?? 'no calibration: equal throughput assumed',
    );
  const fix = `marshal train calibrate --cluster ${facts.cluster.file}`;
  const names = new Set(facts.cluster.nodes.map((n) => n.name));
  // A calibration of another cluster lays out nothing: every node would be "not in the calibration".
  const covered = report.nodes.filter((n) => names.has(n.node));
  if (covered.length === 0)
    return check(
      'hardware_layer',
      'fail',
      `the calibration names none of this cluster's nodes (it measured ${report.nodes.map((n) => n.node).join(', ') || 'no node'}; the cluster has ${[...names].join(', ')})`,
      fix,
    );
  const usable = covered.filter((n) => n.status === 'ok' && n.throughput > 0);
  const bad = covered.filter((n) => !(n.status === 'ok' && n.throughput > 0));
  const age = calibrationAgeDays(report, facts.gatheredAt);
  const caveats = [
    ...noiseWarnings(calibrationNoise({ ...report, nodes: covered }), report),
    ...benchmarkMismatches({ ...report, nodes: covered }, facts.calibration.expectedBenchmark),
    ...(age !== null && age > MAX_CALIBRATION_AGE_DAYS
      ? [
          `the calibration is ${Math.floor(age)} days old (measured ${report.measured_at}; more than ${MAX_CALIBRATION_AGE_DAYS})`,
        ]
      : []),
    // An age that cannot be told is no reason to trust the calibration: an unreadable date, or one
    // more than a day ahead of this clock (a skewed clock or an edited file), warns too.
    ...(age === null
      ? [`the calibration's age is unknown (measured_at ${JSON.stringify(report.measured_at)} is not a date)`]
      : age < -1
        ? [
            `the calibration is dated ${Math.floor(-age)} days in the future (measured_at ${report.measured_at}): its age is unknown`,
          ]
        : []),
  ];
  const listed = (ns: typeof report.nodes) =>
    ns
      .map((n) =>
        n.status === 'ok' ? `${n.node} ${n.throughput.toFixed(2)} ex/s` : `${n.node}: ${n.reason}`,
      )
      .join('; ');
  if (usable.length === 0)
    return check('hardware_layer', 'fail', `no node has a usable calibration (${listed(bad)})`, fix);
  if (bad.length > 0 || caveats.length > 0)
    return check(
      'hardware_layer',
      'warn',
      [...(bad.length > 0 ? [`excluded from the distribution: ${listed(bad)}`] : []), ...caveats].join('; '),
      fix,
    );
  return check('hardware_layer', 'pass', `${usable.length} node(s) calibrated: ${listed(usable)}`);
}

function worker(facts: Facts, layout: Layout): PreflightCheck {
  const failed = facts.probes.filter((p) => p.status === 'failed');
  if (failed.length > 0) {
    const hosts = failed
      .map((p) => facts.cluster.nodes.find((n) => n.name === p.node))
      .filter((n) => n !== undefined);
    const fix = hosts
      .map((n) =>
        n.transport === 'ssh'
          ? quoteShellCommand([...sshCommand(n.ssh), n.host, 'true'])
          : `ls -d ${n.workdir} && ${n.python} -V`,
      )
      .join(' && ');
    return check(
      'worker_layer',
      'fail',
      `unreachable: ${failed.map((p) => `${p.node} (${p.reason})`).join('; ')}`,
      fix || null,
    );
  }
  if (layout.ranks.length === 0) return check('worker_layer', 'fail', 'no node is left to take part', null);
  // A code file (script, marshal_train.py, extras) missing on a node that takes part: launch's code
  // check would refuse the plan every time, so it is blocked here, naming node and file. (A script
  // missing on a minority of nodes is worker_consistency's: those nodes are excluded.)
  const taking = new Set(layout.ranks.map((r) => r.node));
  const missing = facts.code.nodes
    .filter((m) => taking.has(m.node) && m.files !== null)
    .flatMap((m) =>
      Object.entries(m.files!)
        .filter(([, hash]) => hash === null)
        .map(([file]) => `${m.node}: ${file} (${m.errors[file] ?? 'unreadable'})`),
    );
  if (missing.length > 0)
    return check(
      'worker_layer',
      'fail',
      `code files missing on nodes that take part (launch refuses them): ${missing.join('; ')}`,
      `copy the missing files (${facts.code.helper} ships in marshal's python/ directory) into each workdir`,
    );
  return check(
    'worker_layer',
    'pass',
    `${facts.probes.length} node(s) reachable; world size ${layout.ranks.length}`,
  );
}

function checkpoint(facts: Facts, minFree: number): PreflightCheck {
  const c = facts.checkpoint;
  if (!c) return check('checkpoint_layer', 'skipped', 'no --checkpoint-dir given');
  const mk = `mkdir -p ${c.dir}`;
  if (c.error) return check('checkpoint_layer', 'fail', c.error, mk);
  if (!c.writable)
    return check(
      'checkpoint_layer',
      'fail',
      `${c.nearestExisting} is not writable`,
      `chmod u+w ${c.nearestExisting}`,
    );
  const where = c.exists ? c.dir : `${c.dir} (created at launch under ${c.nearestExisting})`;
  if (c.freeBytes === null) return check('checkpoint_layer', 'warn', `${where}: free space unknown`);
  const free = `${(c.freeBytes / GiB).toFixed(1)} GiB free`;
  if (c.freeBytes < minFree) {
    return check(
      'checkpoint_layer',
      'fail',
      `${where}: ${free}, needs ${(minFree / GiB).toFixed(1)} GiB`,
      `df -h ${c.nearestExisting}`,
    );
  }
  return check('checkpoint_layer', 'pass', `${where} is writable, ${free}`);
}

function gradient(layout: Layout, aggregation: AggregationChoice | undefined): PreflightCheck {
  const w = layout.ranks.length;
  if (w === 0) return check('gradient_layer', 'skipped', 'no ranks to synchronise');
  const refused = aggregation ? aggregationPrecondition(aggregation, w) : null;
  if (refused !== null) {
    return check(
      'gradient_layer',
      'fail',
      `gradient aggregation over ${w} rank(s) with f = ${aggregation!.f}: ${refused}`,
      'choose another --aggregation, a smaller --byzantine-f, or more ranks',
    );
  }
  if (w === 1) return check('gradient_layer', 'skipped', 'single rank: no gradient synchronisation');
  const short = layout.ranks.filter((r) => r.batch_size * layout.steps < r.examples);
  if (short.length > 0) {
    return check(
      'gradient_layer',
      'fail',
      `ranks ${short.map((r) => r.rank).join(', ')} cannot cover their shard in ${layout.steps} steps`,
    );
  }
  const idle = layout.ranks.filter((r) => r.examples === 0);
  const sizes = layout.ranks.map((r) => r.batch_size).join('/');
  if (idle.length > 0) {
    return check(
      'gradient_layer',
      'warn',
      `ranks ${idle.map((r) => r.rank).join(', ')} hold no examples and only join the all-reduce`,
    );
  }
  return check(
    'gradient_layer',
    'pass',
    `all-reduce over ${w} ranks, ${layout.steps} steps each, batch sizes ${sizes}${aggregation && aggregation.rule !== 'mean' ? `, ${aggregation.rule} with f = ${aggregation.f}` : ''}`,
  );
}

function performance(facts: Facts, layout: Layout, options: PreflightOptions): PreflightCheck {
  const report = facts.calibration.report;
  if (!report || layout.ranks.length === 0)
    return check('performance_layer', 'skipped', 'no calibration to estimate throughput from');
  const total = layout.ranks.reduce((s, r) => s + r.throughput, 0);
  const seconds = facts.dataset.count / total;
  const slow = report.nodes.filter((n) => n.status === 'ok' && n.latency_ms > (options.maxLatencyMs ?? 500));
  const estimate = `expected ${total.toFixed(1)} ex/s, ~${seconds.toFixed(1)} s per epoch`;
  if (slow.length > 0) {
    return check(
      'performance_layer',
      'warn',
      `${estimate}; step latency above ${options.maxLatencyMs ?? 500} ms on ${slow.map((n) => n.node).join(', ')}`,
    );
  }
  const cv = layout.heterogeneity?.cv ?? 0;
  if (cv > (options.maxThroughputCv ?? 0.2)) {
    return check(
      'performance_layer',
      'warn',
      `${estimate}; heterogeneous nodes (cv ${(cv * 100).toFixed(0)}%): shares follow measured throughput`,
    );
  }
  return check('performance_layer', 'pass', estimate);
}

function health(facts: Facts): PreflightCheck {
  const ok = facts.probes.filter((p) => p.status === 'ok');
  if (ok.length === 0) return check('health_check', 'skipped', 'no node answered the health probe');
  // mlx.launch ranks import mlx.core, not torch (node-probe.ts probes what the launcher needs).
  const fw = ok.some((p) => p.framework === 'mlx') ? 'mlx' : 'torch';
  const noTorch = ok.filter((p) => p.torch === null);
  if (noTorch.length > 0) {
    return check(
      'health_check',
      'fail',
      `${fw} does not import on ${noTorch.map((p) => `${p.node} (${p.torchError ?? '?'})`).join('; ')}`,
      `set the node's python to an interpreter with ${fw} installed`,
    );
  }
  const torch = new Set(ok.map((p) => p.torch));
  const listing = ok.map((p) => `${p.node}: python ${p.python}, ${fw} ${p.torch}`).join('; ');
  if (torch.size > 1)
    return check(
      'health_check',
      'fail',
      `${fw} versions differ: ${listing}`,
      `install the same ${fw} version on every node`,
    );
  const minor = new Set(ok.map((p) => p.python.split('.').slice(0, 2).join('.')));
  if (minor.size > 1) return check('health_check', 'warn', `python versions differ: ${listing}`);
  return check('health_check', 'pass', listing);
}

function sync(facts: Facts): PreflightCheck {
  const s = facts.sync;
  switch (s.status) {
    case 'not_configured':
      return check('pre_rdma_sync', 'skipped', 'no sync.script in the cluster file');
    case 'missing':
      return check(
        'pre_rdma_sync',
        'warn',
        `sync script ${s.script} not found; continuing without sync`,
        `ls -l ${s.script}`,
      );
    case 'failed':
      return check(
        'pre_rdma_sync',
        'fail',
        `sync script exited with ${s.exitCode ?? 'no code'}: ${s.output}`,
        s.script,
      );
    case 'ok':
      return check('pre_rdma_sync', 'pass', `sync script succeeded in ${s.durationMs} ms`);
    default:
      return assertNever(s);
  }
}

function consistency(facts: Facts, layout: Layout): PreflightCheck {
  const c = layout.consistency;
  const fix = facts.cluster.syncScript
    ? facts.cluster.syncScript
    : `copy ${facts.script} to every node's workdir`;
  return check(
    'worker_consistency',
    c.status,
    c.message,
    c.status === 'pass' || c.status === 'skipped' ? null : fix,
  );
}

/** Runs the eight checks over gathered facts. Pure. */
export function preflight(facts: Facts, options: PreflightOptions = {}): PreflightResult {
  const layout = options.layout ?? layoutRanks(facts, options);
  const checks = [
    hardware(facts),
    worker(facts, layout),
    checkpoint(facts, options.minFreeBytes ?? GiB),
    gradient(layout, options.aggregation),
    performance(facts, layout, options),
    health(facts),
    sync(facts),
    consistency(facts, layout),
  ];
  const overall_status = checks.some((c) => c.status === 'fail')
    ? 'fail'
    : checks.some((c) => c.status === 'warn')
      ? 'warn'
      : 'pass';
  return { checks, overall_status, block_on_failure: true };
}
