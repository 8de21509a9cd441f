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
  usage:
    'train launch --plan <plan.json> [--dry-run] [--force] [--grace <s>] [--max-restarts <k>] [--stall-factor <r>] [--stall-min <s>] [--json]',
  description: [
    'Refuses a plan whose seal (HMAC-SHA256 with your plan key) does not match (exit 2, always), a',
    'plan whose pre-flight failed (exit 5), and, after hashing them again on every node right',
    'before starting, code files (script, marshal_train.py, extras) changed since planning (exit 5,',
    'naming node and file), unless --force is given. --force never overrides the seal check.',
    'Every launcher runs `python -m marshal_train <script>` (marshal_train.py in each workdir).',
    'Each rank gets MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,',
    'MARSHAL_SHARD_START, MARSHAL_SHARD_END (half-open), MARSHAL_CHUNK_SIZE, MARSHAL_BATCH_SIZE,',
    'MARSHAL_STEPS and MARSHAL_PLAN. Output is prefixed with the rank (on stderr with --json).',
    'When one rank fails the others are stopped; ranks still running --grace seconds after one',
    'finished cleanly are stopped and flagged. run-report.json is always written next to the plan.',
    'A rank that says it failed (MARSHAL_RANK_FAILED, printed by marshal_train) stops the others at',
    'once, under every launcher. A rank with no progress for --stall-factor x the median step time',
    '(at least --stall-min s) is flagged stalled and the run stopped; the ranks waiting for it in a',
    'collective (MARSHAL_HEARTBEAT lines) are flagged waiting, not blamed.',
    '--dry-run prints each command POSIX-quoted: a pasted line runs exactly that argv.',
    "Ranks also get MARSHAL_CHECKPOINT_DIR (the plan's checkpoint dir) and MARSHAL_RESTART_ATTEMPT.",
    'With --max-restarts k, a failed job (a rank exited non-zero or by a signal) is started again as',
    'a whole, up to k times, after a jittered backoff and a fresh code check; ranks resume from their',
    'last complete checkpoint (marshal_train.resume()). The report lists every attempt.',
  ].join('\n'),
  options: trainOptions(['plan', 'dryRun', 'force', 'graceS', 'maxRestarts', 'stallFactor', 'stallMinS'], {
    json: { type: 'boolean', description: 'print the run report (or the dry-run commands) as JSON' },
  }),
  examples: [
    'marshal train launch --plan plan.json --dry-run',
    'marshal train launch --plan plan.json --json',
    'marshal train launch --plan plan.json --max-restarts 2',
  ],
  exitCodes: [
    [0, 'every rank finished and the results check out (status succeeded)'],
    [
      1,
      'a rank failed or was stopped (failed), or every rank exited 0 but examples, losses or telemetry do not check out (degraded); see run-report.json',
    ],
    [2, 'plan missing, invalid or tampered; plan key missing or unsafe'],
    [5, "the plan's pre-flight failed, or its code changed on a node (use --force to launch anyway)"],
    [130, 'interrupted: every rank stopped'],
  ],
  run: ({ values, io, signal }) =>
    withFlags(async () => {
      const json = values.json === true;
      const graceS = numberSetting(values, 'graceS');
      const stallFactor = numberSetting(values, 'stallFactor');
      const stallMinS = numberSetting(values, 'stallMinS');
      const maxRestarts = numberSetting(values, 'maxRestarts');
      const out = json ? io.stderr : io.stdout;
      const outcome = await launchPlan({
        plan: requiredSetting(values, 'plan'),
        cwd: io.cwd,
        env: io.env,
        signal,
        dryRun: flagSetting(values, 'dryRun'),
        force: flagSetting(values, 'force'),
        ...(graceS !== undefined ? { graceS } : {}),
        ...(stallFactor !== undefined ? { stallFactor } : {}),
        ...(stallMinS !== undefined ? { stallMinS } : {}),
        ...(maxRestarts !== undefined ? { maxRestarts } : {}),
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
            const err =
              report.status === 'degraded'
                ? new MarshalError(
                    TRAINING_ERRORS.E_RUN_DEGRADED,
                    'every rank exited 0, but the run is degraded',
                  )
                : new MarshalError(TRAINING_ERRORS.E_LAUNCH_FAILED, 'a rank failed or was stopped');
            println(io.stderr, `marshal: ${err.message} (${err.code}); see ${reportPath}`);
            for (const reason of report.reasons) println(io.stderr, `  ${sanitizeForTerminal(reason)}`);
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
  const attempts = report.attempts ?? [];
  if (attempts.length > 1) {
    for (const a of attempts) {
      const failed = a.failedRanks.length ? `, failed rank(s) ${a.failedRanks.join(', ')}` : '';
      const resumed = a.resumedFromStep === null ? 'fresh start' : `resumed from step ${a.resumedFromStep}`;
      println(io.stdout, `attempt ${a.attempt}: ${a.status} (${resumed}${failed})`);
    }
  }
  const s = report.byzantine_suspects;
  if (s) {
    const who = s.suspects.length ? `rank(s) ${s.suspects.join(', ')}` : 'none';
    println(
      io.stdout,
      `byzantine suspects (${sanitizeForTerminal(s.rule ?? '?')}, f = ${s.f ?? '?'}, ${s.steps} steps): ${who}`,
    );
  }
  println(io.stdout, `run report: ${reportPath} (${report.status})`);
}
