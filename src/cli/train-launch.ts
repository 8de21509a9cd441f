import {
  assertNever,
  ExitCode,
  MarshalError,
  quoteShellCommand,
  quoteShellWord,
  sanitizeForTerminal,
} from '../core/index.ts';
import { type DryRunProcess, launchPlan, type RunReport, TRAINING_ERRORS } from '../training/index.ts';
import type { CommandSpec } from './command.ts';
import { type Io, printJson, println } from './io.ts';
import { flagSetting, numberSetting, requiredSetting, trainOptions, withFlags } from './train-common.ts';

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
    '--dry-run prints each command POSIX-quoted: a pasted line runs exactly that argv.',
  ].join('\n'),
  options: trainOptions(['plan', 'dryRun', 'force', 'graceS'], {
    json: { type: 'boolean', description: 'print the run report (or the dry-run commands) as JSON' },
  }),
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
  run: ({ values, io, signal }) =>
    withFlags(async () => {
      const json = values.json === true;
      const graceS = numberSetting(values, 'graceS');
      const out = json ? io.stderr : io.stdout;
      const outcome = await launchPlan({
        plan: requiredSetting(values, 'plan'),
        cwd: io.cwd,
        env: io.env,
        signal,
        dryRun: flagSetting(values, 'dryRun'),
        force: flagSetting(values, 'force'),
        ...(graceS !== undefined ? { graceS } : {}),
        onLine: (label, stream, line) => {
          (stream === 'stderr' ? io.stderr : out).write(`[${label}] ${sanitizeForTerminal(line)}\n`);
        },
      });
      switch (outcome.kind) {
        case 'dry-run':
          if (json)
            printJson(io, { plan: outcome.plan, launcher: outcome.launcher, processes: outcome.processes });
          else renderDryRun(io, outcome.processes);
          return ExitCode.ok;
        case 'ran': {
          const { report, reportPath } = outcome;
          if (json) printJson(io, report);
          else renderReport(io, report, reportPath);
          if (outcome.interrupted) return ExitCode.interrupted;
          if (report.status !== 'succeeded') {
            const err = new MarshalError(TRAINING_ERRORS.E_LAUNCH_FAILED, 'a rank failed or was stopped');
            println(io.stderr, `marshal: ${err.message} (${err.code}); see ${reportPath}`);
            return err.exitCode;
          }
          return ExitCode.ok;
        }
        default:
          return assertNever(outcome);
      }
    }),
};

/**
 * One block per process: a comment, the env as `K=V` lines, then the command line. Values and
 * argv words are POSIX-quoted (core `quoteShellWord`), so pasting into a shell expands nothing.
 */
function renderDryRun(io: Io, processes: readonly DryRunProcess[]): void {
  for (const p of processes) {
    println(
      io.stdout,
      `# ${sanitizeForTerminal(p.label)} on ${sanitizeForTerminal(p.node)}${p.cwd ? ` (cwd ${sanitizeForTerminal(p.cwd)})` : ''}`,
    );
    for (const [k, v] of Object.entries(p.env))
      println(io.stdout, `  ${k}=${sanitizeForTerminal(quoteShellWord(v))}`);
    println(io.stdout, `  ${sanitizeForTerminal(quoteShellCommand(p.argv))}`);
  }
}

function renderReport(io: Io, report: RunReport, reportPath: string): void {
  for (const r of report.ranks) {
    println(
      io.stdout,
      `rank ${r.rank} ${sanitizeForTerminal(r.node)}: exit ${r.exitCode ?? r.signal}, ${r.examplesProcessed}/${r.expectedExamples} examples${r.flags.length ? `, flags: ${r.flags.join(', ')}` : ''}`,
    );
  }
  println(io.stdout, `run report: ${reportPath} (${report.status})`);
}
