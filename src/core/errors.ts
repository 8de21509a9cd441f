/**
 * Errors with stable string codes. Codes are API: they are listed in ARCHITECTURE.md (a test keeps
 * the table and this registry equal), asserted in tests, and mapped to CLI exit codes here.
 */

/** CLI exit codes. Documented in ARCHITECTURE.md and `marshal --help`. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  noAnswer: 3,
  supervision: 4,
  preflight: 5,
  busy: 6,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** Every error code marshal raises, with its exit code and a one-line meaning. */
export const ERROR_CODES = {
  E_INTERNAL: { exit: ExitCode.failure, meaning: 'unexpected internal error (rerun with --debug)' },
  E_RUNTIME: { exit: ExitCode.failure, meaning: 'an operation failed at run time' },
  E_USAGE: { exit: ExitCode.usage, meaning: 'bad command-line usage' },
  E_UNKNOWN_COMMAND: { exit: ExitCode.usage, meaning: 'no such command' },
  E_UNKNOWN_OPTION: { exit: ExitCode.usage, meaning: 'no such option for this command' },
  E_INVALID_INPUT: { exit: ExitCode.usage, meaning: 'an input value is invalid' },
  E_CONFIG: { exit: ExitCode.usage, meaning: 'a config file is missing, unparsable or invalid' },
  E_PATH_ESCAPE: { exit: ExitCode.usage, meaning: 'a path leaves its allowed root (CWE-22)' },
  E_ABORTED: { exit: ExitCode.interrupted, meaning: 'interrupted (SIGINT/SIGTERM or abort signal)' },
  E_TIMEOUT: { exit: ExitCode.failure, meaning: 'an operation did not finish in its time bound' },
  E_LOCKED: { exit: ExitCode.busy, meaning: 'a lock is held by another live owner' },
  E_PROCESS: { exit: ExitCode.failure, meaning: 'a child process could not be started or failed' },
} as const satisfies Record<string, { exit: ExitCodeValue; meaning: string }>;

/** Registry extension point: subsystems add their codes through {@link registerErrorCodes}. */
const registry = new Map<string, { exit: ExitCodeValue; meaning: string }>(Object.entries(ERROR_CODES));

/** Adds error codes to the registry (subsystems call this at module load). Re-registering a code with a different exit code throws. */
export function registerErrorCodes(codes: Record<string, { exit: ExitCodeValue; meaning: string }>): void {
  for (const [code, entry] of Object.entries(codes)) {
    const prev = registry.get(code);
    if (prev && prev.exit !== entry.exit) {
      throw new Error(`error code ${code} registered twice with exit ${prev.exit} and ${entry.exit}`);
    }
    registry.set(code, entry);
  }
}

/** All known codes (core and registered). */
export function errorCodeTable(): ReadonlyMap<string, { exit: ExitCodeValue; meaning: string }> {
  return registry;
}

export interface MarshalErrorOptions {
  cause?: unknown;
  /** Structured detail for --json output and tests (field names, values, paths). */
  details?: Record<string, unknown>;
  /** Overrides the exit code the code maps to. */
  exitCode?: ExitCodeValue;
  /** A short hint printed on its own line after the message. */
  hint?: string;
}

/** Base class of every error marshal raises on purpose. */
export class MarshalError extends Error {
  readonly code: string;
  readonly details: Record<string, unknown> | undefined;
  readonly hint: string | undefined;
  readonly #exitCode: ExitCodeValue | undefined;

  constructor(code: string, message: string, options: MarshalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MarshalError';
    this.code = code;
    this.details = options.details;
    this.hint = options.hint;
    this.#exitCode = options.exitCode;
  }

  /** The CLI exit code for this error. */
  get exitCode(): ExitCodeValue {
    return this.#exitCode ?? registry.get(this.code)?.exit ?? ExitCode.failure;
  }
}

/** Bad command-line usage or input value (exit 2). */
export class UsageError extends MarshalError {
  constructor(message: string, options: MarshalErrorOptions & { code?: string } = {}) {
    super(options.code ?? 'E_USAGE', message, options);
    this.name = 'UsageError';
  }
}

/** An input value failed validation; names the field and the value (exit 2). */
export class InvalidInputError extends MarshalError {
  constructor(field: string, value: unknown, expected: string, options: MarshalErrorOptions = {}) {
    super('E_INVALID_INPUT', `${field}: ${expected}, got ${describeValue(value)}`, {
      ...options,
      details: { field, value, expected, ...options.details },
    });
    this.name = 'InvalidInputError';
  }
}

/** The operation was aborted through its AbortSignal (exit 130). */
export class AbortedError extends MarshalError {
  constructor(message = 'aborted', options: MarshalErrorOptions = {}) {
    super('E_ABORTED', message, options);
    this.name = 'AbortedError';
  }
}

/** The operation exceeded its time bound. */
export class TimeoutError extends MarshalError {
  constructor(message: string, options: MarshalErrorOptions = {}) {
    super('E_TIMEOUT', message, options);
    this.name = 'TimeoutError';
  }
}

/** Short, safe rendering of a value for an error message. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
    return JSON.stringify(shown);
  }
  if (value === undefined) return 'undefined';
  try {
    const s = JSON.stringify(value);
    if (s === undefined) return String(value);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(value);
  }
}

/** True when `err` is an abort (ours or the platform's). */
export function isAbortError(err: unknown): boolean {
  if (err instanceof AbortedError) return true;
  return (
    err instanceof Error && (err.name === 'AbortError' || (err as { code?: unknown }).code === 'ABORT_ERR')
  );
}

/** Maps any thrown value to a CLI exit code. */
export function exitCodeFor(err: unknown): ExitCodeValue {
  if (err instanceof MarshalError) return err.exitCode;
  if (isAbortError(err)) return ExitCode.interrupted;
  return ExitCode.failure;
}

/** Exhaustiveness check for switches over unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new MarshalError('E_INTERNAL', `unexpected ${what}: ${describeValue(value)}`);
}
