/**
 * The plan builder (pure): facts in, the sealed plan document out. Every section is present; a
 * phase that could not run says `enabled: false` and why.
 */

import { aggregationRequirement, DEFAULT_AGGREGATION } from './aggregation-plan.ts';
import { calibrationNoise, type NodeNoise, noiseWarnings } from './calibration-quality.ts';
import { manifestSha256 } from './code-manifest.ts';
import type { Facts } from './facts.ts';
import { launchCommands, MLX_BACKEND } from './launch/commands.ts';
import { type LayoutOptions, layoutRanks } from './layout.ts';
import { PLAN_SCHEMA_VERSION, type Plan, type PlanBody, sealPlan } from './plan-schema.ts';
import { type PreflightOptions, preflight } from './preflight.ts';
import { DEFAULT_SSH_OPTIONS } from './transport.ts';

export interface BuildPlanOptions extends LayoutOptions, PreflightOptions {
  /** Directory of the plan file: coordinator-side launchers (mpirun, mlx) run there. */
  planDir: string;
  /** The user's plan key (plan-key.ts `loadPlanKey`): the plan is sealed with its HMAC. */
  sealKey: Uint8Array;
}

const byKey = <T>(entries: Array<[string, T]>): Record<string, T> => Object.fromEntries(entries);

/** Builds and seals the plan. Pure: time comes from `facts.gatheredAt`. */
export function buildPlan(facts: Facts, options: BuildPlanOptions): Plan {
  const layout = layoutRanks(facts, options);
  const aggregation = options.aggregation ?? DEFAULT_AGGREGATION;
  const checklist = preflight(facts, { ...options, layout, aggregation });
  const { cluster } = facts;
  const ranks = layout.ranks;
  const chunkSize = layout.chunking.enabled ? layout.chunking.chunkSize : null;
  const commands = launchCommands({
    launcher: cluster.launcher,
    master: cluster.master,
    script: facts.script,
    ranks,
    steps: layout.steps,
    chunkSize,
    coordinatorUid: facts.coordinator.uid,
    coordinatorSetpriv: facts.coordinator.setpriv ?? null,
    coordinatorDir: options.planDir,
    aggregation,
    interfaces: Object.fromEntries(
      cluster.nodes.flatMap((n) => (n.interface ? [[n.name, n.interface]] : [])),
    ),
    ...(cluster.ssh ? { ssh: cluster.ssh } : {}),
  });
  const report = facts.calibration.report;
  const mlx = cluster.launcher === 'mlx';
  const totalThroughput = ranks.reduce((s, r) => s + r.throughput, 0);
  const hashes = byKey(facts.probes.map((p) => [p.node, p.status === 'ok' ? p.scriptSha256 : null]));
  const c = layout.consistency;
  const sync = facts.sync;
  const body: PlanBody = {
    schemaVersion: PLAN_SCHEMA_VERSION,
    kind: 'marshal.training-plan',
    created_at: facts.gatheredAt,
    status: checklist.overall_status === 'fail' ? 'blocked' : 'ready',
    cluster: {
      file: cluster.file,
      launcher: cluster.launcher,
      master: cluster.master,
      nodes: cluster.nodes.map((n) => ({
        name: n.name,
        host: n.host,
        slots: n.slots,
        python: n.python,
        workdir: n.workdir,
        ...(n.interface ? { interface: n.interface } : {}),
      })),
      ...(cluster.nodes.some((n) => n.transport === 'ssh')
        ? { ssh: cluster.ssh ?? DEFAULT_SSH_OPTIONS }
        : {}),
    },
    script: facts.script,
    dataset: facts.dataset,
    strategy: {
      approach: report
        ? 'data parallel, shards proportional to calibrated throughput, equal step count per rank'
        : 'data parallel, equal shards (no calibration), equal step count per rank',
      launcher: cluster.launcher,
      backend: mlx ? MLX_BACKEND : 'gloo',
      nodes: cluster.nodes.length,
      world_size: ranks.length,
      participating_nodes: [...new Set(ranks.map((r) => r.node))],
      excluded_nodes: layout.excluded,
    },
    batch_configuration: {
      global_batch_size: layout.globalBatchSize,
      steps: layout.steps,
      per_rank_batch_size: byKey(ranks.map((r) => [String(r.rank), r.batch_size])),
      gradient_accumulation_steps: 1,
      learning_rate_scaling:
        'scale the learning rate linearly with global_batch_size; gradients are averaged over the examples of each step',
    },
    distributed_config: {
      launcher: cluster.launcher,
      master_addr: cluster.master.addr,
      master_port: cluster.master.port,
      backend: mlx ? MLX_BACKEND : 'gloo',
      ranks,
      processes: commands.processes,
      hostfile: commands.hostfile,
      notes: commands.notes,
    },
    rdma_config: mlx
      ? {
          // What the generated mlx.launch command really uses (launch/commands.ts MLX_BACKEND).
          enabled: false,
          reason:
            'mlx.launch runs with the TCP ring backend: jaccl (RDMA over Thunderbolt 5) needs an rdma device matrix per host pair, which the cluster file does not describe',
          backend: MLX_BACKEND,
          transport: 'tcp',
          env_vars: { MLX_METAL_FAST_SYNCH: '1', TOKENIZERS_PARALLELISM: 'false' },
          setup:
            'for jaccl: rdma_ctl enable (one-time, in Recovery OS), macOS 26.2+, Thunderbolt Bridge off, and a hostfile whose entries list their rdma devices',
        }
      : {
          enabled: false,
          reason: 'torch.distributed with gloo on CPU: collectives run over TCP, no RDMA transport',
          backend: 'gloo',
          transport: 'tcp',
          env_vars: commands.processes[0]?.env.GLOO_SOCKET_IFNAME ? { GLOO_SOCKET_IFNAME: 'lo' } : {},
          setup: null,
        },
    checkpoint_strategy: facts.checkpoint
      ? {
          enabled: true,
          dir: facts.checkpoint.dir,
          create_at_launch: !facts.checkpoint.exists,
          // What really happens: the script saves (marshal_train.save) where it chooses; a restart
          // (train launch --max-restarts) resumes from the newest checkpoint every rank completed.
          frequency: layout.chunking.enabled
            ? 'when the script calls marshal_train.save(state, step), e.g. after each coordinator chunk; --max-restarts resumes from the newest complete one'
            : 'when the script calls marshal_train.save(state, step), e.g. at the end of each epoch; --max-restarts resumes from the newest complete one',
        }
      : {
          enabled: false,
          reason: 'no --checkpoint-dir given',
          dir: null,
          create_at_launch: false,
          frequency: null,
        },
    performance_targets: report
      ? {
          enabled: true,
          expected_throughput_eps: totalThroughput,
          expected_epoch_seconds: totalThroughput > 0 ? facts.dataset.count / totalThroughput : null,
          max_step_latency_ms: options.maxLatencyMs ?? 500,
        }
      : {
          enabled: false,
          reason: 'no calibration: throughput unknown',
          expected_throughput_eps: null,
          expected_epoch_seconds: null,
          max_step_latency_ms: options.maxLatencyMs ?? 500,
        },
    verification_steps: [
      `marshal train check --plan <plan.json> re-runs the pre-flight against the cluster as it is now`,
      `marshal train launch --plan <plan.json> --dry-run prints every command and env`,
      'each rank reports MARSHAL_METRIC lines; run-report.json sums examples per rank against its shard',
      'final param_hash must agree across ranks (flagged in run-report.json otherwise)',
      'loss and grad_norm are flagged when non-finite or robust outliers across ranks',
    ],
    pre_rdma_sync: {
      enabled: sync.status !== 'not_configured',
      ...(sync.status === 'not_configured' ? { reason: 'no sync.script in the cluster file' } : {}),
      sync_script: sync.status === 'not_configured' ? null : sync.script,
      validation_checks: ['script_exists', 'execution_success'],
      block_on_failure: true,
      sync_status: sync.status,
      exit_code: sync.status === 'ok' || sync.status === 'failed' ? sync.exitCode : null,
      sync_output: sync.status === 'ok' || sync.status === 'failed' ? sync.output : null,
    },
    hardware_calibration: {
      enabled: report !== null,
      ...(report ? {} : { reason: facts.calibration.reason ?? 'no calibration' }),
      source: facts.calibration.source,
      measured_performance: report
        ? byKey(
            report.nodes.flatMap((n) =>
              n.status === 'ok' ? [[n.node, n.throughput] as [string, number]] : [],
            ),
          )
        : {},
      workload_distribution: ranks.map((r) => ({
        rank: r.rank,
        node: r.node,
        throughput: r.throughput,
        share: r.share,
        examples: r.examples,
      })),
      node_shares: byKey(
        [...new Set(ranks.map((r) => r.node))].map((node) => [
          node,
          ranks.filter((r) => r.node === node).reduce((s, r) => s + r.share, 0),
        ]),
      ),
      noise: report
        ? byKey(
            calibrationNoise(report).map(({ node, ...n }) => [node, n] as [string, Omit<NodeNoise, 'node'>]),
          )
        : {},
      heterogeneity: layout.heterogeneity,
      warnings: [...layout.shardWarnings, ...(report ? noiseWarnings(calibrationNoise(report), report) : [])],
      report,
    },
    worker_consistency: {
      enabled: c.status !== 'skipped',
      ...(c.status === 'skipped' ? { reason: c.message } : {}),
      validation_checks: ['script_hash_sha256', 'consistency_threshold'],
      script_hash: c.majorityHash,
      agreement: c.agreement,
      consistency_threshold: c.threshold,
      is_consistent: c.status === 'pass' || c.status === 'skipped',
      status: c.status,
      node_hashes: hashes,
      byzantine_detection: {
        enabled: facts.probes.length > 1,
        divergent_workers: c.divergent,
        policy:
          'majority hash is the reference; a strict-majority minority is excluded (warn); no strict majority fails',
      },
    },
    coordinator_chunking: {
      enabled: layout.chunking.enabled,
      reason: layout.chunking.reason,
      threshold: layout.chunking.threshold,
      chunk_size: layout.chunking.chunkSize,
      num_chunks: layout.chunking.numChunks,
      chunks_per_rank: byKey(
        ranks.map((r) => [
          String(r.rank),
          layout.chunking.chunksPerRank.find((k) => k.rank === r.rank)?.count ?? 0,
        ]),
      ),
      memory_management: { gc_collect: layout.chunking.enabled },
      progress_reporting: layout.chunking.enabled
        ? 'rank R: Processing chunk i/N (p% complete) on stderr'
        : null,
    },
    code: {
      files: facts.code.files,
      helper: facts.code.helper,
      nodes: byKey(
        facts.code.nodes.map((m) => [
          m.node,
          {
            manifest_sha256: manifestSha256(m.files),
            files: m.files ?? byKey(facts.code.files.map((f) => [f, null])),
            ...(m.error ? { error: m.error } : {}),
          },
        ]),
      ),
    },
    gradient_aggregation: {
      rule: aggregation.rule,
      byzantine_f: aggregation.f,
      requires: aggregationRequirement(aggregation.rule),
    },
    pre_flight_checklist: checklist,
  };
  return sealPlan(body, options.sealKey);
}
