/**
 * Reads a plan file as written by {@link planTraining}: the seal (an HMAC-SHA256 keyed with the
 * user's plan key) is checked on the raw JSON first (any edit, valid or not, and any re-seal
 * without the key is `E_PLAN_TAMPERED`), then the schema (`E_PLAN_INVALID`). Both exit 2; a missing
 * or unsafe key is `E_PLAN_KEY` (2). The file must be a regular file of bounded size; symlinks are
 * followed (a plan may be linked).
 */
import { resolve } from 'node:path';
import { assertNever, describeValue, MarshalError } from '../../core/errors.ts';
import { readCappedFile } from '../../core/files.ts';
import { TRAINING_ERRORS } from '../errors.ts';
import { loadPlanKey } from '../plan-key.ts';
import { PLAN_SEAL_ALGORITHM, type Plan, PlanSchema, verifyPlanSeal } from '../plan-schema.ts';

/** Plans are a few hundred KiB at most; anything past this is not a plan. */
export const MAX_PLAN_BYTES = 16 * 2 ** 20;

export interface PlanFile {
  plan: Plan;
  /** Absolute path of the plan file. */
  path: string;
}

/** Reads and verifies the plan at `path` (relative to `cwd`). Errors name the `plan` setting. */
export async function readPlanFile(
  path: string,
  options: { cwd: string; env: Readonly<Record<string, string | undefined>> },
): Promise<PlanFile> {
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
  const integrity = (raw as { integrity?: unknown }).integrity as Record<string, unknown> | undefined;
  const tampered = (why: string, hint: string) =>
    new MarshalError(TRAINING_ERRORS.E_PLAN_TAMPERED, `plan: ${describeValue(path)} ${why}`, {
      details: { field: 'plan', value: path },
      hint,
    });
  const replan = 'rebuild it with planTraining (marshal train plan)';
  if (integrity === undefined || integrity === null || typeof integrity !== 'object')
    throw fail('has no integrity seal');
  if (integrity.algorithm === 'sha256-canonical-json') {
    throw tampered(
      'is sealed with a plain SHA-256 (schemaVersion 1): anyone could have edited and re-sealed it',
      replan,
    );
  }
  if (integrity.algorithm !== PLAN_SEAL_ALGORITHM || typeof integrity.hmac !== 'string') {
    throw fail(`has no ${PLAN_SEAL_ALGORITHM} seal`);
  }
  const key = await loadPlanKey(options.env, { create: false });
  if (!verifyPlanSeal(raw as { integrity: { hmac: string } }, key.key).ok) {
    throw integrity.key_id !== key.id
      ? tampered(
          `was not sealed with your plan key (${key.path}): its seal names key ${describeValue(integrity.key_id)}, yours is ${key.id}; it was made by another user or machine, or edited and re-sealed without your key`,
          replan,
        )
      : tampered('was modified after it was sealed (its HMAC no longer matches)', replan);
  }
  const parsed = PlanSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw fail(`is not a valid plan: ${issue.path.join('.')}: ${issue.message}`);
  }
  return { plan: parsed.data, path: abs };
}
