/**
 * The gradient aggregation a training run uses (pure): the rule and f the plan carries, checked
 * against the world size with the rules' own precondition checks, and the env that passes them to
 * the ranks (python/marshal_robust.py `robust_all_reduce` reads it as its default).
 */
import { InvalidInputError, MarshalError } from '../core/errors.ts';
import {
  AGGREGATION_RULE_PRECONDITIONS,
  AGGREGATION_RULES,
  type AggregationRule,
  aggregate,
  isAggregationRule,
} from './aggregate/index.ts';
import { checkNumberSetting, TRAINING_SETTINGS } from './settings.ts';

export interface AggregationChoice {
  rule: AggregationRule;
  /** Byzantine ranks the rule tolerates. */
  f: number;
}

/** Plain averaging, no Byzantine rank: what a plan without `gradient_aggregation` means. */
export const DEFAULT_AGGREGATION: AggregationChoice = {
  rule: TRAINING_SETTINGS.aggregation.default as AggregationRule,
  f: TRAINING_SETTINGS.byzantineF.default,
};

/** Checks the `aggregation` and `byzantineF` settings; InvalidInputError names the bad one. */
export function checkAggregation(rule: string | undefined, f: number | undefined): AggregationChoice {
  if (rule !== undefined && !isAggregationRule(rule)) {
    throw new InvalidInputError('aggregation', rule, `one of ${AGGREGATION_RULES.join(', ')}`);
  }
  return {
    rule: rule ?? DEFAULT_AGGREGATION.rule,
    f: checkNumberSetting('byzantineF', f) ?? DEFAULT_AGGREGATION.f,
  };
}

/**
 * Why `choice` cannot run over `worldSize` ranks (the rule's own refusal, e.g. "krum: requires
 * n >= 2f + 3, got n = 4, f = 1 (needs n >= 5)"), or null when it can. The check is the rule
 * itself, run on `worldSize` one-coordinate inputs, so it can never drift from the rules.
 */
export function aggregationPrecondition(choice: AggregationChoice, worldSize: number): string | null {
  try {
    aggregate(
      choice.rule,
      Array.from({ length: worldSize }, () => new Float64Array(1)),
      { f: choice.f },
    );
    return null;
  } catch (err) {
    if (err instanceof MarshalError) return err.message;
    throw err;
  }
}

/** The rule's precondition in words (`n >= 2f + 3`). */
export function aggregationRequirement(rule: AggregationRule): string {
  return AGGREGATION_RULE_PRECONDITIONS[rule];
}

/** The env every rank gets: MARSHAL_AGGREGATION and MARSHAL_BYZANTINE_F. */
export function aggregationEnv(choice: AggregationChoice): Record<string, string> {
  return { MARSHAL_AGGREGATION: choice.rule, MARSHAL_BYZANTINE_F: String(choice.f) };
}
