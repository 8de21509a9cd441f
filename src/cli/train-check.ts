import { ExitCode, MarshalError, sanitizeForTerminal } from '../core/index.ts';
import { checkPlan, TRAINING_ERRORS } from '../training/index.ts';
import type { CommandSpec } from './command.ts';
import { printJson, println } from './io.ts';
import {
  checklistExit,
  progress,
  renderChecklist,
  requiredSetting,
  trainOptions,
  withFlags,
} from './train-common.ts';

export const trainCheckCommand: CommandSpec = {
  name: 'train check',
  summary: 're-run the pre-flight checklist of a plan against the cluster as it is now',
  usage: 'train check --plan <plan.json> [--json]',
  description: [
    'Re-reads the cluster file the plan names, re-runs the sync script and the node probes, and',
    "judges every node's script against the hash the plan recorded, so a copy edited since",
    'planning is named. Calibration is taken from the plan. Reports only the current results.',
  ].join('\n'),
  options: trainOptions(['plan'], {
    json: {
      type: 'boolean',
      description:
        'print {plan, checked_at, overall_status, checks, divergent_workers, code_changes} as JSON',
    },
  }),
  examples: ['marshal train check --plan plan.json'],
  exitCodes: [
    [0, 'pre-flight pass or warn'],
    [2, 'plan missing, invalid or tampered; plan key missing or unsafe; bad cluster file'],
    [5, 'pre-flight failed, or a code file (script, marshal_train.py) changed on a node since planning'],
  ],
  run: ({ values, io, signal }) =>
    withFlags(async () => {
      const result = await checkPlan({
        plan: requiredSetting(values, 'plan'),
        cwd: io.cwd,
        env: io.env,
        signal,
        onProgress: progress(io),
      });
      if (values.json) printJson(io, result);
      else {
        println(io.stdout, `check of ${sanitizeForTerminal(result.plan)} at ${result.checked_at}`);
        renderChecklist(io, result);
        for (const c of result.code_changes)
          println(io.stdout, `code changed: ${sanitizeForTerminal(`${c.node}: ${c.file} ${c.problem}`)}`);
      }
      if (result.code_changes.length > 0) {
        const err = new MarshalError(
          TRAINING_ERRORS.E_CODE_CHANGED,
          'code changed since planning: launch would refuse it',
        );
        println(io.stderr, `marshal: ${err.message} (${err.code})`);
        return err.exitCode;
      }
      if (checklistExit(result) !== ExitCode.ok) {
        const err = new MarshalError(TRAINING_ERRORS.E_PREFLIGHT_FAILED, 'pre-flight failed');
        println(io.stderr, `marshal: ${err.message} (${err.code})`);
        return err.exitCode;
      }
      return ExitCode.ok;
    }),
};
