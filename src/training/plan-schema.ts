/**
 * The training plan document (schemaVersion 2): zod schema, JSON Schema, integrity seal.
 *
 * The plan is sealed with an HMAC-SHA256, keyed with the user's plan key (plan-key.ts), of its
 * canonical JSON (sorted keys, no whitespace) taken without the `integrity` member; `launch` and
 * `check` refuse a plan whose content no longer matches, or that was sealed with another key.
 * Golden files per schemaVersion live in test/fixtures/training/plan-v<N>.json.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson, sha256, sha256CanonicalJson } from '../core/hash.ts';
import { AGGREGATION_RULES } from './aggregate/types.ts';
import { CalibrationReportSchema } from './calibrate.ts';
import { LAUNCHERS } from './cluster.ts';
import { CHECK_NAMES } from './preflight.ts';

export const PLAN_SCHEMA_VERSION = 2;

/** The seal's algorithm name, as written in `integrity.algorithm`. */
export const PLAN_SEAL_ALGORITHM = 'hmac-sha256-canonical-json';

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
        /** GLOO_SOCKET_IFNAME of the node's ranks (the cluster file's `interface`). */
        interface: z.string().optional(),
      }),
    ),
    /** How launch reaches the ssh nodes (the cluster file's `ssh:` section); absent when all are local. */
    ssh: z
      .strictObject({
        config: z.string().nullable(),
        connect_timeout_s: z.number().int().min(1),
        server_alive_interval_s: z.number().int().min(1),
        server_alive_count_max: z.number().int().min(1),
      })
      .optional(),
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
    /** One entry per rank; `examples` sum exactly to the dataset size (largest remainder). */
    workload_distribution: z.array(
      z.strictObject({
        rank: z.number().int().min(0),
        node: z.string(),
        throughput: z.number().min(0),
        share: z.number().min(0).max(1),
        examples: z.number().int().min(0),
      }),
    ),
    /** Share of the dataset per node (the sum of its ranks' shares). */
    node_shares: z.record(z.string(), z.number()),
    /** Spread of each measured node's repeats: (max - min) / median; warned above 20%. */
    noise: z.record(
      z.string(),
      z.strictObject({
        repeats: z.number().int().min(1),
        min: z.number(),
        max: z.number(),
        median: z.number(),
        spread: z.number(),
      }),
    ),
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
  /** The code a launch runs: files relative to each workdir, and their hashes per node at planning. */
  code: z.strictObject({
    files: z.array(z.string()).min(1),
    helper: z.string(),
    nodes: z.record(
      z.string(),
      z.strictObject({
        /** SHA-256 of the canonical JSON of `files` (null when a file could not be read). */
        manifest_sha256: z.string().nullable(),
        files: z.record(z.string(), z.string().nullable()),
        error: z.string().optional(),
      }),
    ),
  }),
  /** The gradient rule and f every rank's robust_all_reduce uses (absent: mean, f = 0). */
  gradient_aggregation: z
    .strictObject({
      rule: z.enum(AGGREGATION_RULES),
      byzantine_f: z.number().int().min(0),
      /** The rule's precondition in words (checked by the gradient_layer pre-flight check). */
      requires: z.string(),
    })
    .optional(),
  pre_flight_checklist: z.strictObject({
    checks: z.array(PreflightCheckSchema).length(CHECK_NAMES.length),
    overall_status: z.enum(['pass', 'warn', 'fail']),
    block_on_failure: z.boolean(),
  }),
});
export type PlanBody = z.output<typeof PlanBodySchema>;

export const PlanSchema = PlanBodySchema.extend({
  integrity: z.strictObject({
    algorithm: z.literal(PLAN_SEAL_ALGORITHM),
    /** SHA-256 of the canonical body: names the plan (audit, run report); it proves nothing. */
    sha256: z.string().regex(/^[0-9a-f]{64}$/),
    /** HMAC-SHA256 of the canonical body with the planner's key: the seal. */
    hmac: z.string().regex(/^[0-9a-f]{64}$/),
    /** First 16 hex digits of the key's SHA-256: which key sealed it (not the key). */
    key_id: z.string().regex(/^[0-9a-f]{16}$/),
  }),
});
export type Plan = z.output<typeof PlanSchema>;

/** The HMAC-SHA256 of a plan body's canonical JSON under `key`. */
export function planHmac(body: unknown, key: Uint8Array): string {
  return createHmac('sha256', key).update(canonicalJson(body)).digest('hex');
}

/** Seals a plan body with the user's plan key. Pure. */
export function sealPlan(body: PlanBody, key: Uint8Array): Plan {
  return {
    ...body,
    integrity: {
      algorithm: PLAN_SEAL_ALGORITHM,
      sha256: sha256CanonicalJson(body),
      hmac: planHmac(body, key),
      key_id: sha256(key).slice(0, 16),
    },
  };
}

/** Recomputes the seal with `key`; ok when the plan is unchanged and was sealed with that key. */
export function verifyPlanSeal(
  plan: { integrity: { hmac: string } } & Record<string, unknown>,
  key: Uint8Array,
): { ok: boolean } {
  const { integrity, ...body } = plan;
  const expected = Buffer.from(planHmac(body, key), 'hex');
  const recorded = Buffer.from(String(integrity.hmac), 'hex');
  return { ok: recorded.length === expected.length && timingSafeEqual(recorded, expected) };
}

/** The plan's JSON Schema (draft 2020-12), for `marshal train schema`. */
export function planJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(PlanSchema, { unrepresentable: 'any' }) as Record<string, unknown>;
}
