/**
 * Error codes of the supervisor subsystem (engine, control API, client, detached start): a typed
 * table, each entry carrying its CLI exit code.
 */
import { defineErrors, ExitCode } from '../core/errors.ts';

/** Supervisor error codes: code -> exit code and one-line meaning. */
export const SUPERVISOR_ERRORS = defineErrors({
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
  E_NESTED_SUPERVISION: {
    exit: ExitCode.usage,
    meaning: 'refusing to start a supervisor from a process that is itself supervised',
  },
  E_NO_CONTROL_PORT: { exit: ExitCode.failure, meaning: 'no free port for the control API in its range' },
  E_CONTROL_UNREACHABLE: { exit: ExitCode.failure, meaning: 'the supervisor control API did not answer' },
  E_CONTROL_REJECTED: { exit: ExitCode.failure, meaning: 'the supervisor control API refused the request' },
  E_DETACH_FAILED: { exit: ExitCode.failure, meaning: 'a detached supervisor did not come up' },
  E_METADATA_UNUSABLE: {
    exit: ExitCode.failure,
    meaning: "the workspace's .metadata/ cannot be written (read-only, not ours, or a symlink planted there)",
  },
});

/** A supervisor error code. */
export type SupervisorErrorCode = keyof typeof SUPERVISOR_ERRORS;
