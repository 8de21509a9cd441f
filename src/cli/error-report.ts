/**
 * How the frame reports a failed run: one human line (and a hint) on stderr always, and with
 * `--json` exactly one JSON document on stdout,
 *
 * ```json
 * { "error": { "code": "E_UNKNOWN_OPTION", "message": "...", "option": "--uper", "hint": "..." } }
 * ```
 *
 * where the fields between `message` and `hint` are the error's `details`. The exit code is the
 * same with and without `--json`.
 */
import { CORE_ERRORS, isAbortError, MarshalError, sanitizeForTerminal } from '../core/index.ts';
import { hasPrintedDocument, type Io, printJson } from './io.ts';

/** The `--json` error document. */
export interface ErrorDocument {
  error: { code: string; message: string; hint?: string; [detail: string]: unknown };
}

/** A usage problem the frame found itself (a bare group name): shown as help, coded as usage. */
export class GroupHelp extends Error {
  constructor(
    readonly text: string,
    readonly exit: number,
    readonly group: string,
  ) {
    super(`marshal ${group}: missing subcommand`);
  }
}

/** The error document for any thrown value. */
export function errorDocument(err: unknown): ErrorDocument {
  if (err instanceof MarshalError) {
    const details = jsonSafe(err.details) ?? {};
    const { code: _c, message: _m, hint: _h, ...rest } = details as Record<string, unknown>;
    return {
      error: {
        code: err.code,
        message: err.message,
        ...rest,
        ...(err.hint === undefined ? {} : { hint: err.hint }),
      },
    };
  }
  if (err instanceof GroupHelp) {
    return {
      error: {
        code: CORE_ERRORS.E_USAGE.code,
        message: err.message,
        group: err.group,
        hint: `run marshal help ${err.group}`,
      },
    };
  }
  if (isAbortError(err)) return { error: { code: CORE_ERRORS.E_ABORTED.code, message: 'interrupted' } };
  const message = err instanceof Error ? err.message : String(err);
  return { error: { code: CORE_ERRORS.E_INTERNAL.code, message: `unexpected error: ${message}` } };
}

/**
 * Reports `err`: the human text on stderr, and with `json` the error document on stdout unless the
 * command already printed its document (one document per run).
 */
export function reportError(err: unknown, io: Io, options: { debug: boolean; json: boolean }): void {
  writeHuman(err, io, options.debug);
  if (options.json && !hasPrintedDocument(io)) printJson(io, errorDocument(err));
}

function writeHuman(err: unknown, io: Io, debug: boolean): void {
  if (err instanceof GroupHelp) {
    (err.exit === 0 ? io.stdout : io.stderr).write(err.text);
    return;
  }
  if (err instanceof MarshalError) {
    // Our own messages may span lines ("looked at:\n  - ..."): real line breaks, every other
    // control character still neutralised. Unexpected errors below stay on one line.
    io.stderr.write(`marshal: ${sanitizeForTerminal(err.message, true)}\n`);
    if (err.hint) io.stderr.write(`  ${sanitizeForTerminal(err.hint)}\n`);
    if (debug && err.stack) io.stderr.write(`${err.stack}\n`);
    return;
  }
  if (isAbortError(err)) {
    io.stderr.write('marshal: interrupted\n');
    return;
  }
  const message = err instanceof Error ? err.message : String(err);
  io.stderr.write(`marshal: unexpected error: ${sanitizeForTerminal(message)}\n`);
  if (debug) io.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  else io.stderr.write('  rerun with --debug (or MARSHAL_DEBUG=1) for the stack trace\n');
}

/** `value` as plain JSON data (bigints as strings, errors as their message, cycles dropped). */
function jsonSafe(value: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  const seen = new WeakSet<object>();
  try {
    return JSON.parse(
      JSON.stringify(value, (_key, v: unknown) => {
        if (typeof v === 'bigint') return v.toString();
        if (v instanceof Error) return v.message;
        if (v !== null && typeof v === 'object') {
          if (seen.has(v)) return undefined;
          seen.add(v);
        }
        return v;
      }),
    ) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
