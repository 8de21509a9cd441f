import { CORE_ERRORS, describeValue, MarshalError, UsageError } from '../core/index.ts';
import {
  AGGREGATION_RULE_PRECONDITIONS,
  AGGREGATION_RULES,
  type AggregateResult,
  aggregate,
  isAggregationRule,
  MAX_VECTORS_BYTES,
  parseVectors,
  readVectorsFile,
} from '../training/index.ts';
import { type CommandSpec, numberOption, stringOption } from './command.ts';
import { type Io, printJson, println, styler, useColor } from './io.ts';
import { flagSetting, numberSetting, settingOptions } from './train-common.ts';

/** The rules that read each rule-specific option (the option names are the flags). */
const OPTION_RULES: Readonly<Record<string, readonly string[]>> = {
  m: ['multi-krum'],
  trim: ['trimmed-mean'],
  iterations: ['geometric-median', 'centered-clipping'],
  tolerance: ['geometric-median'],
  nu: ['geometric-median'],
  tau: ['centered-clipping'],
};

/** Coordinates shown in the human summary before eliding. */
const SHOWN = 8;

export const trainAggregateCommand: CommandSpec = {
  name: 'train aggregate',
  summary: 'robustly aggregate worker vectors (krum, median, trimmed mean, ...)',
  usage: 'train aggregate --rule <rule> --f <f> [options] <vectors.json | -> [--json]',
  description: [
    'Reads a JSON array of equal-length number arrays (one per worker; `-` reads stdin) and',
    'aggregates them with a rule that tolerates f Byzantine inputs. A vector holding a number',
    'outside the float64 range (1e400) counts as Byzantine and toward f, and is named on stderr;',
    '--strict refuses it instead. An option the rule does not read (--tau with krum) is refused.',
    'Rules and their preconditions (definitions in the README):',
    ...AGGREGATION_RULES.map((r) => `  ${r.padEnd(18)} ${AGGREGATION_RULE_PRECONDITIONS[r]}`),
  ].join('\n'),
  options: {
    rule: {
      type: 'string',
      valueName: 'rule',
      description: `aggregation rule: ${AGGREGATION_RULES.join(', ')}`,
    },
    f: {
      type: 'string',
      valueName: 'f',
      description: 'number of Byzantine inputs to tolerate (integer >= 0)',
    },
    ...settingOptions([
      'aggregateM',
      'aggregateTrim',
      'aggregateIterations',
      'aggregateTolerance',
      'aggregateNu',
      'aggregateTau',
      'aggregateStrict',
    ]),
    json: {
      type: 'boolean',
      description: 'print {rule, f, result, nonFinite, selected?, scores?, iterations?, nu?, tau?} as JSON',
    },
  },
  positionals: { min: 1, max: 1, names: '<vectors.json | ->' },
  examples: [
    'marshal train aggregate --rule krum --f 1 grads.json',
    'marshal train aggregate --rule multi-krum --f 2 --m 4 grads.json --json',
    'cat grads.json | marshal train aggregate --rule geometric-median --f 1 --nu 0.000001 -',
  ],
  exitCodes: [
    [0, 'aggregated'],
    [2, 'bad option, unreadable or invalid vectors file, or a rule precondition failed'],
  ],
  async run(ctx) {
    const { values, io } = ctx;
    const rule = stringOption(values, 'rule');
    if (rule === undefined)
      throw new UsageError('missing --rule', { hint: `one of ${AGGREGATION_RULES.join(', ')}` });
    if (!isAggregationRule(rule)) {
      throw new UsageError(
        `--rule must be one of ${AGGREGATION_RULES.join(', ')}, got ${describeValue(rule)}`,
        {
          code: CORE_ERRORS.E_INVALID_INPUT,
          details: { field: '--rule', value: rule },
        },
      );
    }
    const f = numberOption(values, 'f', { min: 0, integer: true });
    if (f === undefined) throw new UsageError('missing --f (number of Byzantine inputs to tolerate)');
    const options = {
      f,
      m: numberSetting(values, 'aggregateM'),
      trim: numberSetting(values, 'aggregateTrim'),
      iterations: numberSetting(values, 'aggregateIterations'),
      tolerance: numberSetting(values, 'aggregateTolerance'),
      nu: numberSetting(values, 'aggregateNu'),
      tau: numberSetting(values, 'aggregateTau'),
      strict: flagSetting(values, 'aggregateStrict'),
    };
    // An option the rule does not read would be ignored without a word: refuse it instead.
    for (const [name, value] of Object.entries(options)) {
      const rules = OPTION_RULES[name];
      if (rules && value !== undefined && value !== false && !rules.includes(rule)) {
        throw new UsageError(
          `--${name} applies to ${rules.join(' and ')} only, not --rule ${rule} (got --${name} ${String(value)})`,
          { code: CORE_ERRORS.E_INVALID_INPUT, details: { field: `--${name}`, value, rule } },
        );
      }
    }
    // The setting's bound is >= 0 (shared parser); the smoothing floor itself must be positive.
    if (options.nu === 0) {
      throw new UsageError('--nu must be a positive finite number (> 0), got "0"', {
        code: CORE_ERRORS.E_INVALID_INPUT,
        details: { field: '--nu', value: '0' },
      });
    }
    const file = ctx.positionals[0]!;
    const vectors =
      file === '-'
        ? parseVectors(await readStdin(io), 'stdin', { strict: options.strict })
        : await readVectorsFile(file, { cwd: io.cwd, strict: options.strict });
    const result = aggregate(rule, vectors, options);
    for (const i of result.nonFinite) {
      const k = vectors[i]!.findIndex((x) => !Number.isFinite(x));
      println(
        io.stderr,
        `vector ${i}, coordinate ${k}: outside the float64 range (${String(vectors[i]![k])}); counted as Byzantine`,
      );
    }
    if (values.json) {
      printJson(io, {
        rule: result.rule,
        f: result.f,
        result: Array.from(result.result),
        nonFinite: result.nonFinite,
        ...(result.selected ? { selected: result.selected } : {}),
        // JSON has no Infinity: the score of a non-finite vector is null.
        ...(result.scores ? { scores: result.scores } : {}),
        ...(result.iterations !== undefined ? { iterations: result.iterations } : {}),
        ...(result.nu !== undefined ? { nu: result.nu } : {}),
        ...(result.tau !== undefined ? { tau: result.tau } : {}),
      });
    } else {
      printSummary(io, result, vectors.length);
    }
    return 0;
  },
};

/** All of stdin as text, refused past {@link MAX_VECTORS_BYTES}. */
async function readStdin(io: Io): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > MAX_VECTORS_BYTES) {
      throw new MarshalError(CORE_ERRORS.E_INVALID_INPUT, `stdin: more than ${MAX_VECTORS_BYTES} bytes`, {
        details: { field: 'vectors', path: '-' },
      });
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function printSummary(io: Io, r: AggregateResult, n: number): void {
  const s = styler(useColor(io, 'stdout'));
  const d = r.result.length;
  println(io.stdout, `${s.bold(r.rule)} over ${n} vectors of length ${d}, tolerating f = ${r.f}`);
  if (r.selected && r.scores) {
    const best = r.selected.map((i) => `${i} (score ${format(r.scores![i]!)})`).join(', ');
    println(io.stdout, `selected: ${best}`);
  }
  if (r.iterations !== undefined) println(io.stdout, `iterations: ${r.iterations}`);
  if (r.nu !== undefined) println(io.stdout, `nu: ${format(r.nu)}`);
  if (r.tau !== undefined) println(io.stdout, `tau: ${format(r.tau)}`);
  if (r.nonFinite.length > 0) println(io.stdout, `non-finite (left out): ${r.nonFinite.join(', ')}`);
  const shown = Array.from(r.result.subarray(0, SHOWN), format).join(', ');
  println(io.stdout, `result: [${shown}${d > SHOWN ? `, ... (${d - SHOWN} more)` : ''}]`);
}

function format(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(6).replace(/\.?0+(e|$)/, '$1');
}
