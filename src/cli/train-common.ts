/**
 * Shared pieces of the `train` commands: options, help and number validation derived from the
 * training settings table, the mapping from a library setting name to its flag in errors, and
 * checklist rendering.
 */
import { ExitCode, sanitizeForTerminal, UsageError } from '../core/index.ts';
import {
  isTrainingSetting,
  type NumberSetting,
  type PreflightCheck,
  TRAINING_SETTINGS,
  type TrainingSettingName,
} from '../training/index.ts';
import {
  type CommandSpec,
  numberOption,
  type OptionSpec,
  type OptionValues,
  stringOption,
} from './command.ts';
import { type Io, println, styler, useColor } from './io.ts';
import { withFlagNames as renameSettings } from './setting-flags.ts';

/** The flag of a setting, with its dashes: `checkpointDir` -> `--checkpoint-dir`. */
export function flagOf(name: TrainingSettingName): string {
  return `--${TRAINING_SETTINGS[name].flag}`;
}

/** The option table of a command, derived from the settings it takes. */
export function settingOptions(names: readonly TrainingSettingName[]): Record<string, OptionSpec> {
  const out: Record<string, OptionSpec> = {};
  for (const name of names) {
    const s = TRAINING_SETTINGS[name];
    if (s.kind === 'boolean') {
      out[s.flag] = { type: 'boolean', description: s.help };
      continue;
    }
    const shown = 'defaultText' in s ? s.defaultText : 'default' in s ? String(s.default) : undefined;
    out[s.flag] = {
      type: 'string',
      valueName: s.valueName,
      description: s.help,
      ...(shown !== undefined ? { defaultText: shown } : {}),
    };
  }
  return out;
}

/** A string setting as given on the command line (undefined when absent). */
export function stringSetting(values: OptionValues, name: TrainingSettingName): string | undefined {
  return stringOption(values, TRAINING_SETTINGS[name].flag);
}

/** A required string setting; the error names its flag. */
export function requiredSetting(values: OptionValues, name: TrainingSettingName): string {
  const s = TRAINING_SETTINGS[name];
  const v = stringOption(values, s.flag);
  if (v === undefined || v === '') {
    const what = 'valueName' in s ? ` <${s.valueName}>` : '';
    throw new UsageError(`missing ${flagOf(name)}${what}`, { details: { field: flagOf(name) } });
  }
  return v;
}

/** A numeric setting, checked against the bounds the settings table gives it (no default applied). */
export function numberSetting(values: OptionValues, name: TrainingSettingName): number | undefined {
  const s = TRAINING_SETTINGS[name] as NumberSetting;
  return numberOption(values, s.flag, {
    ...(s.min !== undefined ? { min: s.min } : {}),
    ...(s.max !== undefined ? { max: s.max } : {}),
    ...(s.integer ? { integer: true } : {}),
  });
}

/** A boolean setting (a flag). */
export function flagSetting(values: OptionValues, name: TrainingSettingName): boolean {
  return values[TRAINING_SETTINGS[name].flag] === true;
}

/** Maps the training library's setting names in `err` to their flags (see setting-flags.ts). */
export function withFlagNames(err: unknown): unknown {
  return renameSettings(err, (setting) => (isTrainingSetting(setting) ? flagOf(setting) : undefined));
}

/** Runs a command body, mapping library setting names in its errors to flags. */
export async function withFlags(body: () => Promise<number>): Promise<number> {
  try {
    return await body();
  } catch (err) {
    throw withFlagNames(err);
  }
}

/** A command whose options are derived from settings, plus extra (non-setting) options. */
export function trainOptions(
  settings: readonly TrainingSettingName[],
  extra: CommandSpec['options'] = {},
): CommandSpec['options'] {
  return { ...settingOptions(settings), ...extra };
}

/** Exit code for a checklist: 5 when it failed, else 0. */
export function checklistExit(result: { overall_status: 'pass' | 'warn' | 'fail' }): number {
  return result.overall_status === 'fail' ? ExitCode.preflight : ExitCode.ok;
}

/** Prints a checklist for humans. */
export function renderChecklist(
  io: Io,
  result: { checks: readonly PreflightCheck[]; overall_status: 'pass' | 'warn' | 'fail' },
): void {
  const s = styler(useColor(io, 'stdout'));
  const mark = { pass: s.green('pass'), warn: s.yellow('warn'), fail: s.red('FAIL'), skipped: s.dim('skip') };
  for (const c of result.checks) {
    println(io.stdout, `  ${mark[c.status]}  ${c.name.padEnd(19)} ${sanitizeForTerminal(c.message)}`);
    if (c.fix_command && c.status !== 'pass')
      println(io.stdout, `        ${s.dim(`fix: ${sanitizeForTerminal(c.fix_command)}`)}`);
  }
  const overall = { pass: s.green('pass'), warn: s.yellow('warn'), fail: s.red('FAIL') }[
    result.overall_status
  ];
  println(io.stdout, `pre-flight: ${overall}`);
}

/** Progress messages go to stderr (stdout stays clean for --json). */
export function progress(io: Io): (message: string) => void {
  return (m) => println(io.stderr, `marshal: ${sanitizeForTerminal(m)}`);
}
