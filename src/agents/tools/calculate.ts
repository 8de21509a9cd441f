/** `calculate {expression}`: the original's calculator, on a bounded parser instead of eval. */

import { z } from 'zod';
import { MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';
import {
  EXPRESSION_FUNCTIONS,
  EXPRESSION_LIMITS,
  ExpressionError,
  evaluateExpression,
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
    'Perform mathematical calculations. Supports + - * / % ^ (or **), parentheses, scientific notation, ' +
    `constants pi and e, and the functions ${EXPRESSION_FUNCTIONS.join(', ')} (log is the natural log; log(x, base) for other bases).`,
  parameters,
  async execute({ expression }) {
    try {
      const result = evaluateExpression(expression);
      return JSON.stringify({ expression, result, success: true });
    } catch (error) {
      if (error instanceof ExpressionError) {
        throw new MarshalError(AGENT_ERRORS.E_TOOL, `calculate: ${error.message}`, { cause: error });
      }
      throw error;
    }
  },
};
