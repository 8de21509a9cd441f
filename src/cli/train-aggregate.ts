import { CORE_ERRORS, describeValue, UsageError } from '../core/index.ts';
import {
  AGGREGATION_RULE_PRECONDITIONS,
  AGGREGATION_RULES,
  type AggregateResult,
  aggregate,
  isAggregationRule,
  readVectorsFile,
} from '../training/index.ts';
import { type CommandSpec, numberOption, stringOption } from './command.ts';
import { type Io, printJson, println, styler, useColor } from './io.ts';

/** Coordinates shown in the human summary before eliding. */
const SHOWN = 8;

export const trainAggregateCommand: CommandSpec = {
  name: 'train aggregate',
  summary: 'robustly aggregate worker vectors (krum, median, trimmed mean, ...)',
  usage: 'train aggregate --rule <rule> --f <f> [--m <m>] <vectors.json> [--json]',
  description: [
    'Reads a JSON array of equal-length number arrays (one per worker) and aggregates them with a',
    'rule that tolerates f Byzantine inputs. Rules and their preconditions:',
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
    m: {
      type: 'string',
      valueName: 'm',
      description: 'multi-krum: vectors to average',
      defaultText: 'n - f',
    },
    trim: {
      type: 'string',
      valueName: 'k',
      description: 'trimmed-mean: values dropped per end',
      defaultText: 'f',
    },
    iterations: {
      type: 'string',
      valueName: 'n',
      description: 'geometric-median: iteration cap; centered-clipping: steps L',
      defaultText: '1000 / 3',
    },
    tau: {
      type: 'string',
      valueName: 'r',
      description: 'centered-clipping: clipping radius',
      defaultText: 'median distance to the start point',
    },
    json: { type: 'boolean', description: 'print {rule, f, result, selected?, scores?} as JSON' },
  },
  positionals: { min: 1, max: 1, names: '<vectors.json>' },
  examples: [
    'marshal train aggregate --rule krum --f 1 grads.json',
    'marshal train aggregate --rule multi-krum --f 2 --m 4 grads.json --json',
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
    const m = numberOption(values, 'm', { min: 1, integer: true });
    const trim = numberOption(values, 'trim', { min: 0, integer: true });
    const iterations = numberOption(values, 'iterations', { min: 1, integer: true });
    const tau = numberOption(values, 'tau', { min: 0 });
    const file = ctx.positionals[0]!;
    const vectors = await readVectorsFile(file, { cwd: io.cwd });
    const result = aggregate(rule, vectors, { f, m, trim, iterations, tau });
    if (values.json) {
      printJson(io, {
        rule: result.rule,
        f: result.f,
        result: Array.from(result.result),
        ...(result.selected ? { selected: result.selected } : {}),
        ...(result.scores ? { scores: result.scores } : {}),
      });
    } else {
      printSummary(io, result, vectors.length);
    }
    return 0;
  },
};

function printSummary(io: Io, r: AggregateResult, n: number): void {
  const s = styler(useColor(io, 'stdout'));
  const d = r.result.length;
  println(io.stdout, `${s.bold(r.rule)} over ${n} vectors of length ${d}, tolerating f = ${r.f}`);
  if (r.selected && r.scores) {
    const best = r.selected.map((i) => `${i} (score ${format(r.scores![i]!)})`).join(', ');
    println(io.stdout, `selected: ${best}`);
  }
  if (r.iterations !== undefined) println(io.stdout, `iterations: ${r.iterations}`);
  if (r.tau !== undefined) println(io.stdout, `tau: ${format(r.tau)}`);
  const shown = Array.from(r.result.subarray(0, SHOWN), format).join(', ');
  println(io.stdout, `result: [${shown}${d > SHOWN ? `, ... (${d - SHOWN} more)` : ''}]`);
}

function format(x: number): string {
  return Number.isInteger(x) ? String(x) : x.toPrecision(6).replace(/\.?0+(e|$)/, '$1');
}
