/**
 * The training plan document (schemaVersion 1): zod schema, JSON Schema, integrity seal.
 *
 * The plan is sealed with the SHA-256 of its canonical JSON (sorted keys, no whitespace) taken
 * without the `integrity` member; `launch` refuses a plan whose content no longer matches.
 * Golden files per schemaVersion live in test/fixtures/training/plan-v<N>.json.
 */
import { z } from 'zod';
import { sha256CanonicalJson } from '../core/hash.ts';
import { CalibrationReportSchema } from './calibrate.ts';
import { LAUNCHERS } from './cluster.ts';
import { CHECK_NAMES } from './preflight.ts';

export const PLAN_SCHEMA_VERSION = 1;

const Disabled = { enabled: z.boolean(), reason: z.string().optional() };
const Env = z.record(z.string(), z.string());

export const PlanProcessSchema = z.strictObject({
  label: z.string(),
  node: z.string(),
  ranks: z.array(z.number().int().min(0)),
  argv: z.array(z.string()).min(1),
  env: Env,
  /** Directory on the node (the node's workdir) or on the coordinator for coordinator-side launchers. */
  cwd: z.string(),
  /** Where the process runs: a node's transport, or the coordinator itself. */
  on: z.enum(['node', 'coordinator']),
});
export type PlanProcess = z.output<typeof PlanProcessSchema>;

export const PlanRankSchema = z.strictObject({
  rank: z.number().int().min(0),
  node: z.string(),
  host: z.string(),
  transport: z.enum(['local', 'ssh']),
  local_rank: z.number().int().min(0),
  local_world_size: z.number().int().min(1),
  python: z.string(),
  workdir: z.string(),
  throughput: z.number().min(0),
  share: z.number().min(0).max(1),
  start: z.number().int().min(0),
  end: z.number().int().min(0),
  examples: z.number().int().min(0),
  batch_size: z.number().int().min(1),
});
export type PlanRank = z.output<typeof PlanRankSchema>;

export const PreflightCheckSchema = z.strictObject({
  name: z.enum(CHECK_NAMES),
  status: z.enum(['pass', 'warn', 'fail', 'skipped']),
  message: z.string(),
  fix_command: z.string().nullable(),
});

export const PlanBodySchema = z.strictObject({
  schemaVersion: z.literal(PLAN_SCHEMA_VERSION),
  kind: z.literal('marshal.training-plan'),
  created_at: z.string(),
  status: z.enum(['ready', 'blocked']),
  cluster: z.strictObject({
    file: z.string(),
    launcher: z.enum(LAUNCHERS),
    master: z.strictObject({ addr: z.string(), port: z.number().int() }),
    nodes: z.array(
      z.strictObject({
        name: z.string(),
        host: z.string(),
        slots: z.number().int().min(1),
        python: z.string(),
        workdir: z.string(),
      }),
    ),
  }),
  script: z.string(),
  dataset: z.strictObject({
    source: z.string(),
    kind: z.enum(['count', 'lines', 'json-array']),
    file: z.string().nullable(),
    count: z.number().int().min(1),
  }),
  strategy: z.strictObject({
    approach: z.string(),
    launcher: z.enum(LAUNCHERS),
    backend: z.string(),
    nodes: z.number().int(),
    world_size: z.number().int(),
    participating_nodes: z.array(z.string()),
    excluded_nodes: z.array(z.strictObject({ node: z.string(), reason: z.string() })),
  }),
  batch_configuration: z.strictObject({
    global_batch_size: z.number().int().min(1),
    steps: z.number().int().min(1),
    per_rank_batch_size: z.record(z.string(), z.number().int()),
    gradient_accumulation_steps: z.number().int().min(1),
    learning_rate_scaling: z.string(),
  }),
  distributed_config: z.strictObject({
    launcher: z.enum(LAUNCHERS),
    master_addr: z.string(),
    master_port: z.number().int(),
    backend: z.string(),
    ranks: z.array(PlanRankSchema),
    processes: z.array(PlanProcessSchema),
    hostfile: z.array(z.strictObject({ ssh: z.string(), ips: z.array(z.string()) })).nullable(),
    notes: z.array(z.string()),
  }),
  rdma_config: z.strictObject({
    ...Disabled,
    backend: z.string(),
    transport: z.string(),
    env_vars: Env,
    setup: z.string().nullable(),
  }),
  checkpoint_strategy: z.strictObject({
    ...Disabled,
    dir: z.string().nullable(),
    create_at_launch: z.boolean(),
    frequency: z.string().nullable(),
  }),
  performance_targets: z.strictObject({
    ...Disabled,
    expected_throughput_eps: z.number().nullable(),
    expected_epoch_seconds: z.number().nullable(),
    max_step_latency_ms: z.number(),
  }),
  verification_steps: z.array(z.string()),
  pre_rdma_sync: z.strictObject({
    ...Disabled,
    sync_script: z.string().nullable(),
    validation_checks: z.array(z.string()),
    block_on_failure: z.boolean(),
    sync_status: z.enum(['not_configured', 'missing', 'ok', 'failed']),
    exit_code: z.number().int().nullable(),
    sync_output: z.string().nullable(),
  }),
  hardware_calibration: z.strictObject({
    ...Disabled,
    source: z.enum(['measured', 'file', 'plan', 'skipped']),
    measured_performance: z.record(z.string(), z.number()),
    workload_distribution: z.record(z.string(), z.number()),
    heterogeneity: z
      .strictObject({
        min: z.number(),
        max: z.number(),
        mean: z.number(),
        spread: z.number(),
        cv: z.number(),
      })
      .nullable(),
    warnings: z.array(z.string()),
    report: CalibrationReportSchema.nullable(),
  }),
  worker_consistency: z.strictObject({
    ...Disabled,
    validation_checks: z.array(z.string()),
    script_hash: z.string().nullable(),
    agreement: z.number(),
    consistency_threshold: z.number(),
    is_consistent: z.boolean(),
    status: z.enum(['pass', 'warn', 'fail', 'skipped']),
    node_hashes: z.record(z.string(), z.string().nullable()),
    byzantine_detection: z.strictObject({
      enabled: z.boolean(),
      divergent_workers: z.array(
        z.strictObject({ node: z.string(), hash: z.string().nullable(), reason: z.string() }),
      ),
      policy: z.string(),
    }),
  }),
  coordinator_chunking: z.strictObject({
    ...Disabled,
    threshold: z.number().int(),
    chunk_size: z.number().int().nullable(),
    num_chunks: z.number().int(),
    chunks_per_rank: z.record(z.string(), z.number().int()),
    memory_management: z.strictObject({ gc_collect: z.boolean() }),
    progress_reporting: z.string().nullable(),
  }),
  pre_flight_checklist: z.strictObject({
    checks: z.array(PreflightCheckSchema).length(CHECK_NAMES.length),
    overall_status: z.enum(['pass', 'warn', 'fail']),
    block_on_failure: z.boolean(),
  }),
});
export type PlanBody = z.output<typeof PlanBodySchema>;

export const PlanSchema = PlanBodySchema.extend({
  integrity: z.strictObject({
    algorithm: z.literal('sha256-canonical-json'),
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
  }),
});
export type Plan = z.output<typeof PlanSchema>;

/** Seals a plan body: adds `integrity.sha256` over its canonical JSON. */
export function sealPlan(body: PlanBody): Plan {
  return { ...body, integrity: { algorithm: 'sha256-canonical-json', sha256: sha256CanonicalJson(body) } };
}

/** Recomputes the seal; true when the plan is unchanged since it was sealed. */
export function verifyPlanSeal(plan: Plan): { ok: boolean; expected: string; actual: string } {
  const { integrity, ...body } = plan;
  const actual = sha256CanonicalJson(body);
  return { ok: actual === integrity.sha256, expected: integrity.sha256, actual };
}

/** The plan's JSON Schema (draft 2020-12), for `marshal train schema`. */
export function planJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PlanSchema, { unrepresentable: 'any' }) as Record<string, unknown>;
}
