import { dirname, join } from 'node:path';
import { writeJsonAtomic } from '../core/atomic-file.ts';
import { ExitCode, MarshalError } from '../core/errors.ts';
import { sanitizeForTerminal } from '../core/log-hygiene.ts';
import { openAudit } from '../training/audit.ts';
import { TRAINING_ERRORS } from '../training/errors.ts';
import { buildRunReport } from '../training/launch/run-report.ts';
import { prepareProcesses, runPlan } from '../training/launch/runner.ts';
import { type CommandSpec, numberOption } from './command.ts';
import { printJson, println } from './io.ts';
import { loadPlanFile, requiredOption } from './train-common.ts';

export const trainLaunchCommand: CommandSpec = {
  name: 'train launch',
  summary: 'start every rank of a plan and write run-report.json',
  usage: 'train launch --plan <plan.json> [--dry-run] [--force] [--grace <s>] [--json]',
  description: [
    'Refuses a plan whose content no longer matches its recorded SHA-256 (exit 2, always) and a',
    'plan whose pre-flight failed (exit 5) unless --force is given. A plan whose pre-flight only',
    'warned launches without --force. --force never overrides the tamper check.',
    'Each rank gets MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,',
    'MARSHAL_SHARD_START, MARSHAL_SHARD_END (half-open), MARSHAL_CHUNK_SIZE, MARSHAL_BATCH_SIZE,',
    'MARSHAL_STEPS and MARSHAL_PLAN. Output is prefixed with the rank (on stderr with --json).',
    'When one rank fails the others are stopped; ranks still running --grace seconds after one',
    'finished cleanly are stopped and flagged. run-report.json is always written next to the plan.',
  ].join('\n'),
  options: {
    plan: { type: 'string', valueName: 'plan.json', description: 'plan written by `marshal train plan`' },
    'dry-run': {
      type: 'boolean',
      description: 'print the exact commands and env per process; start nothing',
    },
    force: { type: 'boolean', description: "launch even though the plan's pre-flight failed" },
    grace: {
      type: 'string',
      valueName: 's',
      description: 'time the other ranks get after one finished',
      defaultText: '60',
    },
    json: { type: 'boolean', description: 'print the run report (or the dry-run commands) as JSON' },
  },
  examples: [
    'marshal train launch --plan plan.json --dry-run',
    'marshal train launch --plan plan.json --json',
  ],
  exitCodes: [
    [0, 'every rank finished'],
    [1, 'a rank failed or was stopped (see run-report.json)'],
    [2, 'plan missing, invalid or tampered'],
    [5, "the plan's pre-flight failed (use --force to launch anyway)"],
    [130, 'interrupted: every rank stopped'],
  ],
  async run({ values, io, signal }) {
    const { plan, path } = await loadPlanFile(requiredOption(values, 'plan', 'plan.json'), io.cwd);
    const graceS = numberOption(values, 'grace', { min: 0 }) ?? 60;
    const json = values.json === true;
    const audit = openAudit(path);
    try {
      if (plan.pre_flight_checklist.overall_status === 'fail' && !values.force) {
        audit.log({
          phase: 'launch',
          decision: 'refused',
          reason: 'pre-flight failed',
          plan_sha256: plan.integrity.sha256,
        });
        throw new MarshalError(
          TRAINING_ERRORS.E_PREFLIGHT_FAILED,
          `plan ${path} failed its pre-flight; not launching`,
          {
            hint: 'fix the failed checks and re-plan, or pass --force to launch anyway',
          },
        );
      }
      const prepared = prepareProcesses(plan, path);
      if (values['dry-run']) {
        audit.log({ phase: 'launch', decision: 'dry-run', plan_sha256: plan.integrity.sha256 });
        const rows = prepared.map((p) => ({
          label: p.process.label,
          node: p.process.node,
          ranks: p.process.ranks,
          argv: p.command.argv,
          cwd: p.command.cwd ?? null,
          env: p.command.env,
        }));
        if (json) printJson(io, { plan: path, launcher: plan.distributed_config.launcher, processes: rows });
        else {
          for (const r of rows) {
            println(io.stdout, `# ${r.label} on ${r.node}${r.cwd ? ` (cwd ${r.cwd})` : ''}`);
            for (const [k, v] of Object.entries(r.env))
              println(io.stdout, `  ${k}=${sanitizeForTerminal(v)}`);
            println(
              io.stdout,
              `  ${r.argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`,
            );
          }
        }
        return ExitCode.ok;
      }
      audit.log({
        phase: 'launch',
        decision: 'started',
        forced: values.force === true,
        plan_sha256: plan.integrity.sha256,
      });
      const startedAt = new Date().toISOString();
      const out = json ? io.stderr : io.stdout;
      const ranks = await runPlan(plan, {
        planPath: path,
        env: io.env,
        signal,
        graceMs: graceS * 1000,
        onLine: (label, stream, line) => {
          (stream === 'stderr' ? io.stderr : out).write(`[${label}] ${sanitizeForTerminal(line)}\n`);
        },
      });
      const report = buildRunReport({
        plan: path,
        planSha256: plan.integrity.sha256,
        launcher: plan.distributed_config.launcher,
        startedAt,
        finishedAt: new Date().toISOString(),
        forced: values.force === true,
        ranks,
      });
      const reportPath = join(dirname(path), 'run-report.json');
      await writeJsonAtomic(reportPath, report);
      audit.log({
        phase: 'launch',
        decision: report.status,
        report: reportPath,
        flags: report.ranks.map((r) => r.flags),
      });
      if (json) printJson(io, report);
      else {
        for (const r of report.ranks) {
          println(
            io.stdout,
            `rank ${r.rank} ${sanitizeForTerminal(r.node)}: exit ${r.exitCode ?? r.signal}, ${r.examplesProcessed}/${r.expectedExamples} examples${r.flags.length ? `, flags: ${r.flags.join(', ')}` : ''}`,
          );
        }
        println(io.stdout, `run report: ${reportPath} (${report.status})`);
      }
      if (signal.aborted) return ExitCode.interrupted;
      if (report.status !== 'succeeded') {
        const err = new MarshalError(TRAINING_ERRORS.E_LAUNCH_FAILED, 'a rank failed or was stopped');
        println(io.stderr, `marshal: ${err.message} (${err.code}); see ${reportPath}`);
        return err.exitCode;
      }
      return ExitCode.ok;
    } finally {
      await audit.close();
    }
  },
};
