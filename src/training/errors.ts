/**
 * Error codes of the training subsystem (maths and coordinator): a typed table, each entry
 * carrying its CLI exit code.
 */
import { defineErrors, ExitCode } from '../core/errors.ts';

export const TRAINING_ERRORS = defineErrors({
  E_AGGREGATION_PRECONDITION: {
    exit: ExitCode.usage,
    meaning: 'a robust aggregation rule was called outside its preconditions (n, f, lengths, finite values)',
  },
  E_PREFLIGHT_FAILED: {
    exit: ExitCode.preflight,
    meaning: 'training pre-flight failed (plan written, marked blocked)',
  },
  E_PLAN_TAMPERED: {
    exit: ExitCode.usage,
    meaning:
      "the plan does not match its seal (HMAC-SHA256 with the user's plan key): edited, or sealed without that key",
  },
  E_PLAN_KEY: {
    exit: ExitCode.usage,
    meaning:
      "the user's plan-sealing key is missing (at launch or check), not private, not the user's, or malformed",
  },
  E_CODE_CHANGED: {
    exit: ExitCode.preflight,
    meaning: 'a code file the plan lists (script, helper) changed or vanished on a node since planning',
  },
  E_PLAN_INVALID: { exit: ExitCode.usage, meaning: 'a plan file is missing, unreadable or not a valid plan' },
  E_SCRIPT_NOT_FOUND: { exit: ExitCode.usage, meaning: 'the training script exists on no node' },
  E_CALIBRATION_INVALID: { exit: ExitCode.usage, meaning: 'a calibration file is missing or invalid' },
  E_CALIBRATION_FAILED: { exit: ExitCode.failure, meaning: 'calibration failed on every node' },
  E_LAUNCH_FAILED: { exit: ExitCode.failure, meaning: 'a rank failed or was stopped during launch' },
  E_RUN_DEGRADED: {
    exit: ExitCode.failure,
    meaning:
      'every rank exited 0 but the run is not trustworthy (examples differ from the plan, non-finite loss, bad telemetry)',
  },
});

/** A training error code. */
export type TrainingErrorCode = keyof typeof TRAINING_ERRORS;
