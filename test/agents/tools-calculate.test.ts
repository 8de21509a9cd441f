import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { calculateTool } from '../../src/agents/tools/calculate.ts';
import {
  EXPRESSION_LIMITS,
  ExpressionError,
  evaluateExpression,
} from '../../src/agents/tools/evaluate-expression.ts';
import { MarshalError } from '../../src/core/errors.ts';

const ctx = { signal: new AbortController().signal, workspace: '/nonexistent' };

describe('evaluateExpression', () => {
  const cases: Array<[string, number]> = [
    ['1 + 2', 3],
    ['2 + 3 * 4', 14],
    ['(2 + 3) * 4', 20],
    ['10 - 4 - 3', 3],
    ['100 / 10 / 5', 2],
    ['7 % 3', 1],
    ['-7 % 3', 2],
    ['2 ^ 10', 1024],
    ['2 ** 10', 1024],
    ['2 ^ 3 ^ 2', 512],
    ['-2 ^ 2', -4],
    ['(-2) ^ 2', 4],
    ['2 ^ -1', 0.5],
    ['--3', 3],
    ['+5', 5],
    ['1.5e3 + .5', 1500.5],
    ['2E-2', 0.02],
    ['3.', 3],
    ['pi', Math.PI],
    ['e', Math.E],
    ['2 * pi', 2 * Math.PI],
    ['sqrt(16) + abs(-3)', 7],
    ['sin(pi / 2)', 1],
    ['cos(0)', 1],
    ['tan(0)', 0],
    ['ln(e)', 1],
    ['log(e)', 1],
    ['log(8, 2)', 3],
    ['log10(1000)', 3],
    ['exp(0)', 1],
    ['floor(2.7) + ceil(2.1)', 5],
    ['round(2.5)', 2],
    ['round(3.14159, 2)', 3.14],
    ['min(4, 2, 8)', 2],
    ['max(4, 2, 8)', 8],
    ['sum(1, 2, 3, 4)', 10],
    ['max(1, min(5, 3) * 2)', 6],
    ['  1\t+\n1 ', 2],
    ['2 ^ 1000', 2 ** 1000],
  ];
  for (const [expression, expected] of cases) {
    it(`${JSON.stringify(expression)} = ${expected}`, () => {
      const got = Number(evaluateExpression(expression));
      assert.ok(Math.abs(got - expected) <= 1e-12 * Math.max(1, Math.abs(expected)), `got ${got}`);
    });
  }

  const rejected: Array<[string, RegExp]> = [
    ['', /empty/],
    ['__proto__', /unknown name "__proto__"/],
    ['constructor', /unknown name "constructor"/],
    ['toString()', /unknown function "toString"/],
    ['hasOwnProperty(1)', /unknown function/],
    ['process.exit()', /unexpected character "\."/],
    ['require("fs")', /unexpected character/],
    ['this', /unknown name/],
    ['globalThis', /unknown name/],
    ['eval(1)', /unknown function "eval"/],
    ['Function("return 1")()', /unexpected character/],
    ['1; 2', /unexpected character ";"/],
    ['a = 1', /unknown name|unexpected character/],
    ['`1`', /unexpected character/],
    ['9^9^9^9', /exponent .* larger than/],
    ['10.0 ^ 400', /not a finite number/],
    ['10 ^ 400 * 1.0', /too large to convert to a float/],
    ['(10 ** 1000) ** 1000', /more than 10000 bits/],
    ['7 // 0', /division by zero/],
    ['0 ** -1', /division by zero/],
    ['(-8) ** 0.5', /complex/],
    ['1e999', /not a finite number/],
    ['1 / 0', /division by zero/],
    ['5 % 0', /division by zero/],
    ['sqrt(-1)', /not a finite number/],
    ['ln(0)', /not a finite number/],
    ['exp(1000)', /not a finite number/],
    ['(1 + 2', /expected "\)"/],
    ['1 + 2)', /unexpected "\)"/],
    ['1 +', /unexpected end/],
    ['* 2', /unexpected "\*"/],
    ['sqrt()', /takes 1 argument/],
    ['sqrt(1, 2)', /takes 1 argument/],
    ['round(1, 2, 3)', /takes 1 to 2/],
    ['round(1.5, 100)', /digits/],
    ['2 3', /unexpected "3"/],
    ['e3', /unknown name "e3"/],
    [`${'('.repeat(200)}1${')'.repeat(200)}`, /nests deeper/],
    [`${'-'.repeat(300)}1`, /nests deeper/],
    ['1+'.repeat(600), /longer than/],
  ];
  for (const [expression, pattern] of rejected) {
    it(`rejects ${JSON.stringify(expression.length > 40 ? `${expression.slice(0, 40)}...` : expression)}`, () => {
      assert.throws(
        () => evaluateExpression(expression),
        (err: unknown) => {
          assert.ok(err instanceof ExpressionError, `not an ExpressionError: ${String(err)}`);
          assert.match(err.message, pattern);
          return true;
        },
      );
    });
  }

  it('accepts nesting up to the bound', () => {
    const depth = Math.floor(EXPRESSION_LIMITS.maxDepth / 2) - 1;
    assert.equal(evaluateExpression(`${'('.repeat(depth)}41+1${')'.repeat(depth)}`), 42n);
  });

  it('leaves Object.prototype untouched by hostile names', () => {
    assert.throws(() => evaluateExpression('__proto__(1)'), ExpressionError);
    assert.equal(({} as Record<string, unknown>).polluted, undefined);
  });
});

describe('calculate tool', () => {
  it('returns the original result shape as JSON', async () => {
    const out = JSON.parse(await calculateTool.execute({ expression: '6 * 7' }, ctx));
    assert.deepEqual(out, { expression: '6 * 7', result: 42, success: true });
  });

  it('throws E_TOOL with the parser reason', async () => {
    await assert.rejects(calculateTool.execute({ expression: '9^9^9^9' }, ctx), (err: unknown) => {
      assert.ok(err instanceof MarshalError);
      assert.equal(err.code, 'E_TOOL');
      assert.match(err.message, /^calculate: exponent/);
      return true;
    });
  });

  it('validates its arguments with zod', () => {
    assert.equal(calculateTool.parameters.safeParse({ expression: '1' }).success, true);
    assert.equal(calculateTool.parameters.safeParse({ expression: 1 }).success, false);
    assert.equal(calculateTool.parameters.safeParse({}).success, false);
    assert.equal(calculateTool.parameters.safeParse({ expression: '1', extra: true }).success, false);
  });
});
