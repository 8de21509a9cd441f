/**
 * Library errors name settings (`agents: must be ...`, `checkpointDir: ...`, `` `force` `` in a
 * hint); on the command line the user knows them as flags. One renaming for every subsystem: each
 * command passes its own setting -> flag lookup.
 */
import { MarshalError } from '../core/index.ts';

/** A setting's flag with its dashes (`--checkpoint-dir`), or undefined when it has none. */
export type FlagOf = (setting: string) => string | undefined;

/**
 * Rewrites a MarshalError's leading field name (`field: ...` or `field ...`), `details.field` and
 * backquoted setting names in the message and hint to their flags. Anything else passes through
 * unchanged (the same object when nothing names a setting).
 */
export function withFlagNames(err: unknown, flagOf: FlagOf): unknown {
  if (!(err instanceof MarshalError)) return err;
  const toFlags = (text: string): string =>
    text.replace(/`([A-Za-z]+)`/g, (all, name: string) => flagOf(name) ?? all);
  let message = toFlags(err.message);
  let details = err.details;
  const field = details?.field;
  const flag = typeof field === 'string' ? flagOf(field) : undefined;
  if (typeof field === 'string' && flag !== undefined) {
    const rest = message.slice(field.length);
    if (message.startsWith(field) && (rest.startsWith(':') || rest.startsWith(' ')))
      message = `${flag}${rest}`;
    details = { ...details, field: flag };
  }
  const hint = err.hint === undefined ? undefined : toFlags(err.hint);
  if (message === err.message && details === err.details && hint === err.hint) return err;
  return new MarshalError(err.spec, message, {
    cause: err,
    exitCode: err.exitCode,
    ...(details ? { details } : {}),
    ...(hint !== undefined ? { hint } : {}),
  });
}
