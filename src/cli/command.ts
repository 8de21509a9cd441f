import { parseArgs } from 'node:util';
import { CORE_ERRORS, UsageError } from '../core/index.ts';
import type { Io } from './io.ts';
import { closest } from './suggest.ts';

/** One option of a command, as plain data over `node:util.parseArgs`. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  /** Shown in help: `--model <id>`. */
  valueName?: string;
  description: string;
  /** Shown in help only; defaults are applied by the command itself (config files may set them too). */
  defaultText?: string;
  /**
   * The value names a file the command writes (`--out`, `--trace`): before the command runs, the
   * frame checks it with `assertWritableOutput` (exit 2 for a missing or read-only directory, a
   * directory or a non-regular file), so a mistake costs nothing.
   */
  output?: boolean;
}

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

/** What a command's `run` receives. */
export interface CommandContext {
  /** Parsed option values keyed by long name. */
  values: OptionValues;
  /** Positional arguments before `--`. */
  positionals: string[];
  /** Arguments after `--` (only when the command sets `passThrough`). */
  rest: string[];
  io: Io;
  /** Aborted on SIGINT/SIGTERM. */
  signal: AbortSignal;
  /** --debug or MARSHAL_DEBUG=1. */
  debug: boolean;
}

/** A command as plain data. Names with a space are subcommands (`train plan`). */
export interface CommandSpec {
  name: string;
  summary: string;
  /** Usage line without the leading `marshal `. */
  usage: string;
  description?: string;
  options: Record<string, OptionSpec>;
  positionals?: { min: number; max: number; names: string };
  /** Accept `-- args...` and hand them over in `rest`. */
  passThrough?: boolean;
  /**
   * With `passThrough`: an option (without `--`) after which every argument goes to `rest`, like
   * argparse's `nargs=REMAINDER` (`supervise --args --port 8188`, ComfyGit's orchestrator.py argv).
   */
  remainderOption?: string;
  examples?: string[];
  /** Exit codes specific to this command, for its help. */
  exitCodes?: Array<[number, string]>;
  run(ctx: CommandContext): Promise<number>;
}

/** Options every command accepts. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  help: { type: 'boolean', short: 'h', description: 'show help for this command' },
  debug: { type: 'boolean', description: 'print stack traces of unexpected errors (or MARSHAL_DEBUG=1)' },
};

export interface ParsedArgs {
  values: OptionValues;
  positionals: string[];
  rest: string[];
}

/** Parses a command's arguments; every problem becomes a UsageError naming the option or value. */
export function parseCommandArgs(spec: CommandSpec, args: string[]): ParsedArgs {
  const options = { ...COMMON_OPTIONS, ...spec.options };
  const config: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(options)) {
    config[name] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
    };
  }
  let parsed: ReturnType<
    typeof parseArgs<{ options: typeof config; allowPositionals: true; tokens: true; strict: true }>
  >;
  const normalized = attachNegativeNumbers(splitRemainder(spec, args), options);
  try {
    parsed = parseArgs({
      args: normalized,
      options: config,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (err) {
    throw translateParseError(err, spec, options, normalized);
  }
  const terminator = parsed.tokens.find((t) => t.kind === 'option-terminator');
  const positionals: string[] = [];
  const rest: string[] = [];
  for (const t of parsed.tokens) {
    if (t.kind !== 'positional') continue;
    if (terminator && t.index > terminator.index) rest.push(t.value);
    else positionals.push(t.value);
  }
  if (rest.length > 0 && !spec.passThrough) positionals.push(...rest.splice(0));
  const values = parsed.values as OptionValues;
  if (!values.help) {
    const p = spec.positionals ?? { min: 0, max: 0, names: '' };
    if (positionals.length < p.min) {
      throw new UsageError(`marshal ${spec.name}: missing ${p.names}`, {
        hint: `usage: marshal ${spec.usage}`,
      });
    }
    if (positionals.length > p.max) {
      const extra = positionals[p.max]!;
      throw new UsageError(`marshal ${spec.name}: unexpected argument ${JSON.stringify(extra)}`, {
        hint: `usage: marshal ${spec.usage}`,
        details: { argument: extra },
      });
    }
  }
  return { values, positionals, rest };
}

/** `--<remainderOption> a b` (before any `--`) becomes `-- a b`. */
function splitRemainder(spec: CommandSpec, args: string[]): string[] {
  if (!spec.passThrough || spec.remainderOption === undefined) return args;
  const at = args.indexOf(`--${spec.remainderOption}`);
  const terminator = args.indexOf('--');
  if (at < 0 || (terminator >= 0 && terminator < at)) return args;
  return [...args.slice(0, at), '--', ...args.slice(at + 1)];
}

/** A negative decimal number, as a value (`-3`, `-0.5`, `-.5`). */
const NEGATIVE_NUMBER = /^-(?:\d|\.\d)/;

/**
 * `--agents -3` is a value for --agents, not an option `-3`: rewrite it as `--agents=-3` (and
 * `-n -3` as `--lines=-3`) so that the number parser reports it as out of range for that option,
 * by name. Only for string options, only before `--`.
 */
function attachNegativeNumbers(args: readonly string[], options: Record<string, OptionSpec>): string[] {
  const byShort = new Map<string, string>(
    Object.entries(options).flatMap(([name, o]) => (o.short ? [[`-${o.short}`, name] as const] : [])),
  );
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      out.push(...args.slice(i));
      break;
    }
    const name = arg.startsWith('--') ? arg.slice(2) : byShort.get(arg);
    const next = args[i + 1];
    if (
      name !== undefined &&
      options[name]?.type === 'string' &&
      next !== undefined &&
      NEGATIVE_NUMBER.test(next)
    ) {
      out.push(`--${name}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

function translateParseError(
  err: unknown,
  spec: CommandSpec,
  options: Record<string, OptionSpec>,
  args: string[],
): UsageError {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = /Unknown option '([^']+)'/.exec(message);
    const bad = m?.[1] ?? '?';
    if (/^-\d/.test(bad)) {
      return new UsageError(
        `marshal ${spec.name}: ${JSON.stringify(bad)} was read as an option; pass negative numbers as --name=${bad}`,
        { code: CORE_ERRORS.E_UNKNOWN_OPTION, details: { option: bad } },
      );
    }
    const names = Object.keys(options).map((n) => `--${n}`);
    const guess = closest(bad.replace(/=.*/, ''), names);
    return new UsageError(
      `marshal ${spec.name}: unknown option ${bad}${guess ? ` (did you mean ${guess}?)` : ''}`,
      { code: CORE_ERRORS.E_UNKNOWN_OPTION, details: { option: bad, suggestion: guess } },
    );
  }
  if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const m = /Option '(?:-\w, )?(--[\w-]+)/.exec(message);
    const opt = m?.[1] ?? 'option';
    const idx = args.findIndex((a) => a === opt || a.startsWith(`${opt}=`));
    const next = idx >= 0 ? args[idx + 1] : undefined;
    if (next?.startsWith('-') && /argument is ambiguous/.test(message)) {
      return new UsageError(
        `marshal ${spec.name}: value ${JSON.stringify(next)} for ${opt} looks like an option; write ${opt}=${next}`,
        { details: { option: opt, value: next } },
      );
    }
    if (/argument missing/.test(message) || next === undefined) {
      return new UsageError(`marshal ${spec.name}: ${opt} needs a value`, { details: { option: opt } });
    }
    return new UsageError(`marshal ${spec.name}: ${opt} does not take a value`, { details: { option: opt } });
  }
  return new UsageError(`marshal ${spec.name}: ${message}`);
}

/** Renders a command's help text. */
export function commandHelp(spec: CommandSpec): string {
  const lines = [`Usage: marshal ${spec.usage}`, '', spec.summary];
  if (spec.description) lines.push('', spec.description.trimEnd());
  const all = { ...spec.options, ...COMMON_OPTIONS };
  const rows = Object.entries(all).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` <${o.valueName ?? 'value'}>` : ''}`;
    const def = o.defaultText ? ` (default: ${o.defaultText})` : '';
    return [flag, `${o.description}${def}`] as const;
  });
  const width = Math.min(34, Math.max(...rows.map(([f]) => f.length)) + 2);
  lines.push('', 'Options:');
  for (const [flag, text] of rows) {
    lines.push(
      flag.length + 2 > width ? `  ${flag}\n  ${' '.repeat(width)}${text}` : `  ${flag.padEnd(width)}${text}`,
    );
  }
  if (spec.exitCodes && spec.exitCodes.length > 0) {
    lines.push('', 'Exit codes:');
    for (const [code, text] of spec.exitCodes) lines.push(`  ${String(code).padEnd(4)}${text}`);
  }
  if (spec.examples && spec.examples.length > 0) {
    lines.push('', 'Examples:');
    for (const ex of spec.examples) lines.push(`  ${ex}`);
  }
  return `${lines.join('\n')}\n`;
}

/** An integer in decimal digits, optionally negative: `4`, `-3`, `007`. Not `0x4`, `1e1`, `+3`, `4.0`. */
const DECIMAL_INTEGER = /^-?\d+$/;
/** A decimal number: `4`, `0.5`, `.5`, `-2.25`. Not `1e1`, `0x4`, `+3`, `Infinity`, ` 4`. */
const DECIMAL_NUMBER = /^-?(?:\d+(?:\.\d+)?|\.\d+)$/;

/** Bounds of a numeric option. */
export interface NumberBounds {
  min?: number;
  max?: number;
  integer?: boolean;
}

/**
 * The one parser of numeric options, used by every command. Accepts plain decimal notation only
 * (`0x4`, `1e1`, `+3`, ` 4` are refused, and `4.0` where an integer is expected); a well-formed
 * value outside the bounds (a negative count) is reported as out of range for that option. Both
 * are `UsageError`s (E_INVALID_INPUT, exit 2) naming the option and the value received, e.g.
 * `--agents must be an integer from 1 to 64, got "-3"`.
 */
export function parseNumberOption(name: string, text: string, bounds: NumberBounds = {}): number {
  const kind = bounds.integer ? 'an integer' : 'a number';
  const range =
    bounds.min !== undefined && bounds.max !== undefined
      ? ` from ${bounds.min} to ${bounds.max}`
      : bounds.min !== undefined
        ? ` >= ${bounds.min}`
        : bounds.max !== undefined
          ? ` <= ${bounds.max}`
          : '';
  const wellFormed = (bounds.integer ? DECIMAL_INTEGER : DECIMAL_NUMBER).test(text);
  const n = Number(text);
  const inRange =
    wellFormed &&
    Number.isFinite(n) &&
    (!bounds.integer || Number.isSafeInteger(n)) &&
    (bounds.min === undefined || n >= bounds.min) &&
    (bounds.max === undefined || n <= bounds.max);
  if (inRange) return n;
  const reason = wellFormed ? 'out_of_range' : 'not_decimal';
  const note = wellFormed ? '' : bounds.integer ? ' (decimal digits only)' : ' (plain decimal notation only)';
  throw new UsageError(`--${name} must be ${kind}${range}, got ${JSON.stringify(text)}${note}`, {
    code: CORE_ERRORS.E_INVALID_INPUT,
    details: { field: `--${name}`, value: text, reason, ...bounds },
  });
}

/** Reads option `name` with {@link parseNumberOption}; undefined when it was not given. */
export function numberOption(
  values: OptionValues,
  name: string,
  bounds: NumberBounds = {},
): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  return parseNumberOption(name, String(raw), bounds);
}

/** Reads a string option. */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}
