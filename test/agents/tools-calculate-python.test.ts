/**
 * The calculator's Python semantics, as the original tool (Python eval over `math`) had them:
 * exact integers past 2**53, floor division and modulo with the divisor's sign, round half to
 * even, right-associative `**` binding tighter than unary minus. A table of cases checked against
 * CPython 3 by hand, and properties comparing the BigInt path with an independent formula.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { calculateTool } from '../../src/agents/tools/calculate.ts';
import { evaluateExpression, formatExpressionValue } from '../../src/agents/tools/evaluate-expression.ts';
import { pinPropertySeed } from '../helpers/property-seed.ts';

pinPropertySeed();

const show = (expression: string) => formatExpressionValue(evaluateExpression(expression));

describe('calculator: Python semantics', () => {
  // [expression, what Python 3 prints via json.dumps]
  const table: Array<[string, string]> = [
    ['2**64', '18446744073709551616'],
    ['2**53 + 1', '9007199254740993'],
    ['12345678901234567890 * 98765432109876543210', '1219326311370217952237463801111263526900'],
    ['-(2**64) // 3', '-6148914691236517206'],
    ['2**100 - 1', '1267650600228229401496703205375'],
    ['-7 % 3', '2'],
    ['7 % -3', '-2'],
    ['-7 // 2', '-4'],
    ['7 // 2', '3'],
    ['-7.5 // 2', '-4'],
    ['-7.5 % 2', '0.5'],
    ['5.5 % -2', '-0.5'],
    ['7 / 2', '3.5'],
    ['2**64 / 2**32', '4294967296'],
    ['round(2.5)', '2'],
    ['round(3.5)', '4'],
    ['round(-2.5)', '-2'],
    ['round(0.5)', '0'],
    ['round(2.675, 2)', '2.67'],
    ['round(0.125, 2)', '0.12'],
    ['round(0.375, 2)', '0.38'],
    ['round(1250, -2)', '1200'],
    ['round(1350, -2)', '1400'],
    ['round(1e20)', '100000000000000000000'],
    ['floor(-2.5)', '-3'],
    ['ceil(2.1)', '3'],
    ['2**3**2', '512'],
    ['-2**2', '-4'],
    ['(-2)**2', '4'],
    ['2**-1', '0.5'],
    ['abs(-(2**70))', '1180591620717411303424'],
    ['max(2**64, 1.5)', '18446744073709551616'],
    ['sum(2**63, 2**63)', '18446744073709551616'],
    ['sum(1, 0.5)', '1.5'],
  ];
  for (const [expression, expected] of table) {
    it(`${expression} = ${expected}`, () => assert.equal(show(expression), expected));
  }

  it('the tool prints every digit of an integer result', async () => {
    const text = await calculateTool.execute(
      { expression: '2**64' },
      { signal: new AbortController().signal, workspace: '/' },
    );
    assert.equal(text, '{"expression":"2**64","result":18446744073709551616,"success":true}');
  });

  const bigInts = fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n });
  const lit = (v: bigint) => (v < 0n ? `(${v})` : `${v}`);

  it('integer + - * are exact (property)', () => {
    fc.assert(
      fc.property(bigInts, bigInts, bigInts, (a, b, c) => {
        assert.equal(evaluateExpression(`${lit(a)} * ${lit(b)} - ${lit(c)} + 1`), a * b - c + 1n);
      }),
    );
  });

  it('// and % satisfy a == (a // b) * b + a % b with the sign of b (property)', () => {
    fc.assert(
      fc.property(
        bigInts,
        bigInts.filter((b) => b !== 0n),
        (a, b) => {
          const q = evaluateExpression(`${lit(a)} // ${lit(b)}`) as bigint;
          const r = evaluateExpression(`${lit(a)} % ${lit(b)}`) as bigint;
          assert.equal(q * b + r, a);
          assert.ok(r === 0n || r < 0n === b < 0n);
          assert.ok((r < 0n ? -r : r) < (b < 0n ? -b : b));
        },
      ),
    );
  });

  it('round(x) of an integer plus one half goes to the even neighbour (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), (n) => {
        const got = evaluateExpression(`round(${n} + 0.5)`) as bigint;
        const want = BigInt(n % 2 === 0 ? n : n + 1);
        assert.equal(got, want);
      }),
    );
  });
});
