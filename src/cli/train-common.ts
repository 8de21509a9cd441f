/** Shared pieces of the `train` commands: reading plans, rendering checklists, option checks. */

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { describeValue, ExitCode, MarshalError, UsageError } from '../core/errors.ts';
import { sha256CanonicalJson } from '../core/hash.ts';
import { sanitizeForTerminal } from '../core/log-hygiene.ts';
import { TRAINING_ERRORS } from '../training/errors.ts';
import { type Plan, PlanSchema } from '../training/plan-schema.ts';
import type { PreflightResult } from '../training/preflight.ts';
import { type OptionValues, stringOption } from './command.ts';
import { type Io, println, styler, useColor } from './io.ts';

/** A required string option; the error names it. */
export function requiredOption(values: OptionValues, name: string, what: string): string {
  const v = stringOption(values, name);
  if (v === undefined || v === '')
    throw new UsageError(`missing --${name} <${what}>`, { details: { field: `--${name}` } });
  return v;
}

/**
 * Reads a plan file: the seal is checked on the raw JSON first (any edit, valid or not, is
 * `E_PLAN_TAMPERED`), then the schema (`E_PLAN_INVALID`). Both exit 2.
 */
export async function loadPlanFile(path: string, cwd: string): Promise<{ plan: Plan; path: string }> {
  const abs = resolve(cwd, path);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(abs, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code ?? 'not valid JSON';
    throw new MarshalError(
      TRAINING_ERRORS.E_PLAN_INVALID,
      `--plan: cannot read ${describeValue(path)} (${why})`,
      {
        details: { field: '--plan', value: path },
      },
    );
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new MarshalError(
      TRAINING_ERRORS.E_PLAN_INVALID,
      `--plan: ${describeValue(path)} is not a plan object`,
      {
        details: { field: '--plan', value: path },
      },
    );
  }
  const { integrity, ...body } = raw as Record<string, unknown>;
  const recorded = (integrity as { sha256?: unknown } | undefined)?.sha256;
  if (typeof recorded !== 'string') {
    throw new MarshalError(
      TRAINING_ERRORS.E_PLAN_INVALID,
      `--plan: ${describeValue(path)} has no integrity.sha256`,
      {
        details: { field: '--plan', value: path },
      },
    );
  }
  let actual: string;
  try {
    actual = sha256CanonicalJson(body);
  } catch {
    actual = '';
  }
  if (actual !== recorded) {
    throw new MarshalError(
      TRAINING_ERRORS.E_PLAN_TAMPERED,
      `--plan: ${describeValue(path)} was modified after it was written (SHA-256 ${actual.slice(0, 12) || '?'} != recorded ${recorded.slice(0, 12)})`,
      {
        details: { field: '--plan', value: path, expected: recorded, actual },
        hint: 'rebuild it with marshal train plan',
      },
    );
  }
  const parsed = PlanSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MarshalError(
      TRAINING_ERRORS.E_PLAN_INVALID,
      `--plan: ${describeValue(path)}: ${issue.path.join('.')}: ${issue.message}`,
      {
        details: { field: '--plan', value: path },
      },
    );
  }
  return { plan: parsed.data, path: abs };
}

/** Exit code for a checklist: 5 when it failed, else 0. */
export function checklistExit(result: Pick<PreflightResult, 'overall_status'>): number {
  return result.overall_status === 'fail' ? ExitCode.preflight : ExitCode.ok;
}

/** Prints a checklist for humans. */
export function renderChecklist(io: Io, result: Pick<PreflightResult, 'checks' | 'overall_status'>): void {
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
