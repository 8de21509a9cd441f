/**
 * Reads a plan file as written by {@link planTraining}: the seal is checked on the raw JSON first
 * (any edit, valid or not, is `E_PLAN_TAMPERED`), then the schema (`E_PLAN_INVALID`). Both exit 2.
 * The file must be a regular file of bounded size; symlinks are followed (a plan may be linked).
 */
import { resolve } from 'node:path';
import { assertNever, describeValue, MarshalError } from '../../core/errors.ts';
import { readCappedFile } from '../../core/files.ts';
import { sha256CanonicalJson } from '../../core/hash.ts';
import { TRAINING_ERRORS } from '../errors.ts';
import { type Plan, PlanSchema } from '../plan-schema.ts';

/** Plans are a few hundred KiB at most; anything past this is not a plan. */
export const MAX_PLAN_BYTES = 16 * 2 ** 20;

export interface PlanFile {
  plan: Plan;
  /** Absolute path of the plan file. */
  path: string;
}

/** Reads and verifies the plan at `path` (relative to `cwd`). Errors name the `plan` setting. */
export async function readPlanFile(path: string, options: { cwd: string }): Promise<PlanFile> {
  const abs = resolve(options.cwd, path);
  const fail = (problem: string, details: Record<string, unknown> = {}, hint?: string) =>
    new MarshalError(TRAINING_ERRORS.E_PLAN_INVALID, `plan: ${describeValue(path)} ${problem}`, {
      details: { field: 'plan', value: path, ...details },
      ...(hint ? { hint } : {}),
    });
  const read = await readCappedFile(abs, { maxBytes: MAX_PLAN_BYTES });
  const cannot = (why: string) =>
    new MarshalError(TRAINING_ERRORS.E_PLAN_INVALID, `plan: cannot read ${describeValue(path)} (${why})`, {
      details: { field: 'plan', value: path },
    });
  switch (read.kind) {
    case 'ok':
      break;
    case 'missing':
      throw cannot('ENOENT');
    case 'symlink':
      throw cannot('a symlink');
    case 'not-regular':
      throw cannot(`not a regular file: ${read.type}`);
    case 'too-large':
      throw cannot(`${read.size} bytes, more than ${read.maxBytes}`);
    case 'unreadable':
      throw cannot(read.message);
    default:
      assertNever(read);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(read.text);
  } catch {
    throw cannot('not valid JSON');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw fail('is not a plan object');
  const { integrity, ...body } = raw as Record<string, unknown>;
  const recorded = (integrity as { sha256?: unknown } | undefined)?.sha256;
  if (typeof recorded !== 'string') throw fail('has no integrity.sha256');
  let actual: string;
  try {
    actual = sha256CanonicalJson(body);
  } catch {
    actual = '';
  }
  if (actual !== recorded) {
    throw new MarshalError(
      TRAINING_ERRORS.E_PLAN_TAMPERED,
      `plan: ${describeValue(path)} was modified after it was written (SHA-256 ${actual.slice(0, 12) || '?'} != recorded ${recorded.slice(0, 12)})`,
      {
        details: { field: 'plan', value: path, expected: recorded, actual },
        hint: 'rebuild it with planTraining (marshal train plan)',
      },
    );
  }
  const parsed = PlanSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw fail(`is not a valid plan: ${issue.path.join('.')}: ${issue.message}`);
  }
  return { plan: parsed.data, path: abs };
}
