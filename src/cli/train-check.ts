import { dirname } from 'node:path';
import { ExitCode, MarshalError } from '../core/errors.ts';
import { sanitizeForTerminal } from '../core/log-hygiene.ts';
import { openAudit } from '../training/audit.ts';
import { loadCluster } from '../training/cluster.ts';
import { type DatasetFact, readDataset } from '../training/dataset.ts';
import { TRAINING_ERRORS } from '../training/errors.ts';
import { gatherFacts } from '../training/facts.ts';
import { layoutRanks } from '../training/layout.ts';
import { preflight } from '../training/preflight.ts';
import type { CommandSpec } from './command.ts';
import { printJson, println } from './io.ts';
import { checklistExit, loadPlanFile, progress, renderChecklist, requiredOption } from './train-common.ts';

export const trainCheckCommand: CommandSpec = {
  name: 'train check',
  summary: 're-run the pre-flight checklist of a plan against the cluster as it is now',
  usage: 'train check --plan <plan.json> [--json]',
  description: [
    'Re-reads the cluster file the plan names, re-runs the sync script and the node probes, and',
    "judges every node's script against the hash the plan recorded, so a copy edited since",
    'planning is named. Calibration is taken from the plan. Reports only the current results.',
  ].join('\n'),
  options: {
    plan: { type: 'string', valueName: 'plan.json', description: 'plan written by `marshal train plan`' },
    json: { type: 'boolean', description: 'print {plan, checks, overall_status} as JSON' },
  },
  examples: ['marshal train check --plan plan.json'],
  exitCodes: [
    [0, 'pre-flight pass or warn'],
    [2, 'plan missing, invalid or tampered; bad cluster file'],
    [5, 'pre-flight failed'],
  ],
  async run({ values, io, signal }) {
    const { plan, path } = await loadPlanFile(requiredOption(values, 'plan', 'plan.json'), io.cwd);
    const cluster = await loadCluster(plan.cluster.file, { cwd: io.cwd, env: io.env });
    const dataset: DatasetFact = plan.dataset.file
      ? await readDataset(plan.dataset.file, io.cwd)
      : plan.dataset;
    const report = plan.hardware_calibration.report;
    const facts = await gatherFacts(cluster, {
      script: plan.script,
      dataset,
      ...(plan.checkpoint_strategy.dir ? { checkpointDir: plan.checkpoint_strategy.dir } : {}),
      calibration: {
        mode: 'given',
        report,
        ...(report ? {} : { reason: plan.hardware_calibration.reason ?? 'no calibration in the plan' }),
      },
      env: io.env,
      cwd: io.cwd,
      signal,
      onProgress: progress(io),
    });
    const options = {
      globalBatchSize: plan.batch_configuration.global_batch_size,
      consistencyThreshold: plan.worker_consistency.consistency_threshold,
      chunkThreshold: plan.coordinator_chunking.threshold,
      ...(plan.coordinator_chunking.chunk_size ? { chunkSize: plan.coordinator_chunking.chunk_size } : {}),
      ...(plan.worker_consistency.script_hash ? { referenceHash: plan.worker_consistency.script_hash } : {}),
    };
    const layout = layoutRanks(facts, options);
    const result = preflight(facts, { ...options, layout });
    const audit = openAudit(path);
    for (const c of result.checks)
      audit.log({
        phase: 'pre_flight',
        decision: c.status,
        command: 'check',
        check: c.name,
        message: c.message,
      });
    audit.log({
      phase: 'check',
      decision: result.overall_status,
      command: 'check',
      plan_sha256: plan.integrity.sha256,
      plan_dir: dirname(path),
    });
    await audit.close();
    const divergent = layout.consistency.divergent.map((d) => d.node);
    if (values.json) {
      printJson(io, {
        plan: path,
        checked_at: facts.gatheredAt,
        overall_status: result.overall_status,
        checks: result.checks,
        divergent_workers: divergent,
      });
    } else {
      println(io.stdout, `check of ${sanitizeForTerminal(path)} at ${facts.gatheredAt}`);
      renderChecklist(io, result);
    }
    const exit = checklistExit(result);
    if (exit !== ExitCode.ok) {
      const err = new MarshalError(TRAINING_ERRORS.E_PREFLIGHT_FAILED, 'pre-flight failed');
      println(io.stderr, `marshal: ${err.message} (${err.code})`);
      return err.exitCode;
    }
    return ExitCode.ok;
  },
};
