/**
 * Error codes of the supervisor's surface (control API, CLI commands, detached start). The
 * engine's own codes (E_SUPERVISOR_RUNNING, E_NO_SUPERVISOR, E_SWITCH_IN_PROGRESS, E_SWITCH_FAILED,
 * ...) live in errors.ts.
 */
import { ExitCode, registerErrorCodes } from '../core/errors.ts';

registerErrorCodes({
  E_NESTED_SUPERVISION: {
    exit: ExitCode.usage,
    meaning: 'refusing to start a supervisor from a process that is itself supervised',
  },
  E_NO_CONTROL_PORT: { exit: ExitCode.failure, meaning: 'no free port for the control API in its range' },
  E_CONTROL_UNREACHABLE: { exit: ExitCode.failure, meaning: 'the supervisor control API did not answer' },
  E_CONTROL_REJECTED: { exit: ExitCode.failure, meaning: 'the supervisor control API refused the request' },
  E_DETACH_FAILED: { exit: ExitCode.failure, meaning: 'a detached supervisor did not come up' },
});
