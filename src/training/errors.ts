/**
 * Error codes of the training maths (sharding, chunking, robust aggregation). The coordinator's
 * codes live in `errors-plan.ts` so the two halves of the subsystem register independently.
 */
import { ExitCode, registerErrorCodes } from '../core/errors.ts';
// test/error-codes.test.ts loads each subsystem's errors.ts only: bring the coordinator's codes along.
import './errors-plan.ts';

registerErrorCodes({
  E_AGGREGATION_PRECONDITION: {
    exit: ExitCode.usage,
    meaning: 'a robust aggregation rule was called outside its preconditions (n, f, lengths, finite values)',
  },
});

/** The codes registered here, for docs and tests. */
export const TRAINING_MATH_ERROR_CODES = ['E_AGGREGATION_PRECONDITION'] as const;
