/**
 * Error codes of the supervisor subsystem (registered with the core registry at module load).
 */
import { ExitCode, registerErrorCodes } from '../core/errors.ts';

/** Supervisor error codes: code -> exit code and one-line meaning. */
export const SUPERVISOR_ERROR_CODES = {
  E_NO_WORKSPACE: {
    exit: ExitCode.usage,
    meaning: 'no ComfyGit/marshal workspace (a folder with .metadata/) was found',
  },
  E_ENV_NOT_FOUND: { exit: ExitCode.usage, meaning: 'no such environment in the workspace' },
  E_ENV_INVALID: {
    exit: ExitCode.usage,
    meaning: 'an environment cannot be run (missing interpreter, entry point or invalid marshal-env.yaml)',
  },
  E_SWITCH_IN_PROGRESS: { exit: ExitCode.busy, meaning: 'another environment switch is in progress' },
  E_SUPERVISOR_RUNNING: {
    exit: ExitCode.busy,
    meaning: 'a supervisor is already running for this workspace',
  },
  E_NO_SUPERVISOR: { exit: ExitCode.failure, meaning: 'no supervisor is running for this workspace' },
  E_SUPERVISOR_STOPPED: {
    exit: ExitCode.supervision,
    meaning: 'the supervisor has stopped and takes no requests',
  },
  E_CRASH_LOOP: {
    exit: ExitCode.supervision,
    meaning: 'the child kept crashing; supervision gave up (crash_loop)',
  },
  E_SWITCH_FAILED: { exit: ExitCode.supervision, meaning: 'an environment switch did not complete' },
  E_PORT_BUSY: { exit: ExitCode.failure, meaning: "the server's port stayed held by another process" },
} as const;

registerErrorCodes(SUPERVISOR_ERROR_CODES);

/** A supervisor error code. */
export type SupervisorErrorCode = keyof typeof SUPERVISOR_ERROR_CODES;
