/**
 * Errors with stable string codes. Codes are API: each subsystem defines its typed table with
 * {@link defineErrors} (code, exit code, meaning), ARCHITECTURE.md lists them (a test keeps the
 * two equal), and an error carries its exit code from the entry it was raised with.
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

/** One error code: its stable name, the CLI exit code it maps to, and a one-line meaning. */
export interface ErrorSpec<C extends string = string> {
  readonly code: C;
  readonly exit: ExitCodeValue;
  readonly meaning: string;
}

/**
 * Defines a subsystem's error table: code -> exit code and meaning. The result maps each code to
 * its {@link ErrorSpec}, so `new MarshalError(AGENT_ERRORS.E_LLM_HTTP, ...)` carries its exit
 * code with it and a misspelt code does not compile. ARCHITECTURE.md lists every table; a test
 * keeps the two equal in both directions.
 */
export function defineErrors<const T extends Record<string, { exit: ExitCodeValue; meaning: string }>>(
  table: T,
): { readonly [K in keyof T & string]: ErrorSpec<K> } {
  const out: Record<string, ErrorSpec> = {};
  for (const [code, entry] of Object.entries(table)) {
    out[code] = Object.freeze({ code, exit: entry.exit, meaning: entry.meaning });
  }
  return Object.freeze(out) as { readonly [K in keyof T & string]: ErrorSpec<K> };
}

/** Error codes of the core and the CLI frame. */
export const CORE_ERRORS = defineErrors({
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
});

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
  /** The table entry this error was raised with. */
  readonly spec: ErrorSpec;
  readonly details: Record<string, unknown> | undefined;
  readonly hint: string | undefined;
  readonly #exitCode: ExitCodeValue | undefined;

  constructor(spec: ErrorSpec, message: string, options: MarshalErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'MarshalError';
    this.spec = spec;
    this.code = spec.code;
    this.details = options.details;
    this.hint = options.hint;
    this.#exitCode = options.exitCode;
  }

  /** The CLI exit code for this error. */
  get exitCode(): ExitCodeValue {
    return this.#exitCode ?? this.spec.exit;
  }
}

/** Bad command-line usage or input value (exit 2). */
export class UsageError extends MarshalError {
  constructor(message: string, options: MarshalErrorOptions & { code?: ErrorSpec } = {}) {
    super(options.code ?? CORE_ERRORS.E_USAGE, message, options);
    this.name = 'UsageError';
  }
}

/** An input value failed validation; names the field and the value (exit 2). */
export class InvalidInputError extends MarshalError {
  constructor(field: string, value: unknown, expected: string, options: MarshalErrorOptions = {}) {
    super(CORE_ERRORS.E_INVALID_INPUT, `${field}: ${expected}, got ${describeValue(value)}`, {
      ...options,
      details: { field, value, expected, ...options.details },
    });
    this.name = 'InvalidInputError';
  }
}

/** The operation was aborted through its AbortSignal (exit 130). */
export class AbortedError extends MarshalError {
  constructor(message = 'aborted', options: MarshalErrorOptions = {}) {
    super(CORE_ERRORS.E_ABORTED, message, options);
    this.name = 'AbortedError';
  }
}

/** The operation exceeded its time bound. */
export class TimeoutError extends MarshalError {
  constructor(message: string, options: MarshalErrorOptions = {}) {
    super(CORE_ERRORS.E_TIMEOUT, message, options);
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
  throw new MarshalError(CORE_ERRORS.E_INTERNAL, `unexpected ${what}: ${describeValue(value)}`);
}
