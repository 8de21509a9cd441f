/**
 * Error codes of the training coordinator (plan, check, launch, calibrate). Kept apart from
 * `errors.ts` (the maths codes) so the two halves of the subsystem register independently.
 */
import { ExitCode, registerErrorCodes } from '../core/errors.ts';

registerErrorCodes({
  E_PREFLIGHT_FAILED: {
    exit: ExitCode.preflight,
    meaning: 'training pre-flight failed (plan written, marked blocked)',
  },
  E_PLAN_TAMPERED: { exit: ExitCode.usage, meaning: 'the plan no longer matches its recorded SHA-256' },
  E_PLAN_INVALID: { exit: ExitCode.usage, meaning: 'a plan file is missing, unreadable or not a valid plan' },
  E_SCRIPT_NOT_FOUND: { exit: ExitCode.usage, meaning: 'the training script exists on no node' },
  E_CALIBRATION_INVALID: { exit: ExitCode.usage, meaning: 'a calibration file is missing or invalid' },
  E_CALIBRATION_FAILED: { exit: ExitCode.failure, meaning: 'calibration failed on every node' },
  E_LAUNCH_FAILED: { exit: ExitCode.failure, meaning: 'a rank failed or was stopped during launch' },
});

/** The codes registered here, for docs and tests. */
export const TRAINING_PLAN_ERROR_CODES = [
  'E_PREFLIGHT_FAILED',
  'E_PLAN_TAMPERED',
  'E_PLAN_INVALID',
  'E_SCRIPT_NOT_FOUND',
  'E_CALIBRATION_INVALID',
  'E_CALIBRATION_FAILED',
  'E_LAUNCH_FAILED',
] as const;
