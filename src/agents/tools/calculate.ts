/**
 * `calculate {expression}`: the original's calculator (Python eval over `math`), on a bounded
 * parser instead of eval, with Python's integer and rounding semantics (evaluate-expression.ts).
 */

import { z } from 'zod';
import { MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';
import {
  EXPRESSION_FUNCTIONS,
  EXPRESSION_LIMITS,
  ExpressionError,
  evaluateExpression,
  formatExpressionValue,
} from './evaluate-expression.ts';
import type { ToolDefinition } from './tool.ts';

const parameters = z.strictObject({
  expression: z
    .string()
    .min(1)
    .max(EXPRESSION_LIMITS.maxLength)
    .describe('The mathematical expression to evaluate, e.g. "2 + 3 * 4" or "sqrt(16) + sin(pi/2)"'),
});

/** The calculator tool. Returns `{expression, result, success: true}` as JSON; throws E_TOOL with the reason. */
export const calculateTool: ToolDefinition<z.infer<typeof parameters>> = {
  name: 'calculate',
  description:
    'Perform mathematical calculations with Python semantics. Supports + - * / // % ** (or ^ for power), parentheses, ' +
    'scientific notation, exact integers of any size (2**64 = 18446744073709551616), ' +
    `constants pi and e, and the functions ${EXPRESSION_FUNCTIONS.join(', ')} (log is the natural log; log(x, base) for other bases; ` +
    'round rounds half to even).',
  parameters,
  async execute({ expression }) {
    try {
      const result = evaluateExpression(expression);
      // Written by hand so an integer keeps every digit (JSON.stringify cannot write a BigInt).
      return `{"expression":${JSON.stringify(expression)},"result":${formatExpressionValue(result)},"success":true}`;
    } catch (error) {
      if (error instanceof ExpressionError) {
        throw new MarshalError(AGENT_ERRORS.E_TOOL, `calculate: ${error.message}`, { cause: error });
      }
      throw error;
    }
  },
};
