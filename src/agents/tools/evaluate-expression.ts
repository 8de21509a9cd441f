/**
 * A bounded arithmetic evaluator (recursive descent; no eval, no Function, no property lookups on
 * user-named keys). Grammar, loosest binding first:
 *
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/' | '//' | '%') unary)*
 *   unary   := ('-' | '+') unary | power
 *   power   := primary (('^' | '**') unary)?        right-associative; -2**2 = -(2**2)
 *   primary := number | constant | name '(' expr (',' expr)* ')' | '(' expr ')'
 *
 * Python's semantics, as the original tool (Python eval over `math`) had them: integer literals
 * are exact integers (BigInt) and stay exact through + - * // % ** (`2**64` is
 * 18446744073709551616); `/` is true division (a float); `//` floors and `%` takes the sign of
 * the divisor (`-7 % 3` is 2); `round` rounds half to even (`round(2.5)` is 2) and returns an
 * integer without digits; `floor` and `ceil` return integers. Any float operand makes the result
 * a float. `^` is a power here (not Python's xor), as models mean it.
 *
 * Bounds: expression length, nesting depth, exponent magnitude, integer size in bits, argument
 * count, and every float result must be finite.
 */

export const EXPRESSION_LIMITS = {
  maxLength: 1000,
  maxDepth: 100,
  maxExponent: 1000,
  maxArgs: 100,
  /** Largest integer result, in bits (about 3000 decimal digits). */
  maxIntegerBits: 10_000,
} as const;

/** A result: an exact integer or a finite float. */
export type ExpressionValue = number | bigint;

/** Thrown for any invalid or out-of-bounds expression; `message` is meant for the model. */
export class ExpressionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ExpressionError';
  }
}

const CONSTANTS: ReadonlyMap<string, number> = new Map([
  ['pi', Math.PI],
  ['e', Math.E],
]);

function finite(value: number, what: string): number {
  if (!Number.isFinite(value)) throw new ExpressionError(`${what} is not a finite number`);
  return value;
}

function bits(v: bigint): number {
  return v === 0n ? 0 : (v < 0n ? -v : v).toString(2).length;
}

function checkInt(v: bigint): bigint {
  if (bits(v) > EXPRESSION_LIMITS.maxIntegerBits) {
    throw new ExpressionError(`integer result has more than ${EXPRESSION_LIMITS.maxIntegerBits} bits`);
  }
  return v;
}

/** An integer as a float (Python raises OverflowError when it does not fit). */
function toFloat(v: ExpressionValue): number {
  if (typeof v === 'number') return v;
  const f = Number(v);
  if (!Number.isFinite(f)) throw new ExpressionError('integer is too large to convert to a float');
  return f;
}

const isZero = (v: ExpressionValue) => (typeof v === 'bigint' ? v === 0n : v === 0);

function floorDivInt(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a < 0n !== b < 0n ? q - 1n : q;
}

/** `num / den` rounded half to even (den > 0). */
function roundHalfEvenDiv(num: bigint, den: bigint): bigint {
  const q = floorDivInt(num, den);
  const twice = 2n * (num - q * den);
  return twice > den || (twice === den && q % 2n !== 0n) ? q + 1n : q;
}

/** A finite double as an exact fraction `mantissa * 2^exponent`. */
function exactParts(x: number): { mantissa: bigint; exponent: number } {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const sign = hi >>> 31 ? -1n : 1n;
  const rawExp = (hi >>> 20) & 0x7ff;
  let mantissa = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exponent: number;
  if (rawExp === 0) exponent = -1074;
  else {
    mantissa |= 1n << 52n;
    exponent = rawExp - 1075;
  }
  return { mantissa: sign * mantissa, exponent };
}

/** Python's round(x, digits) on the exact binary value of `x`, half to even. */
function roundFloat(x: number, digits: number): bigint | number {
  const { mantissa, exponent } = exactParts(x);
  let num = mantissa;
  let den = 1n;
  if (exponent >= 0) num <<= BigInt(exponent);
  else den <<= BigInt(-exponent);
  if (digits >= 0) num *= 10n ** BigInt(digits);
  else den *= 10n ** BigInt(-digits);
  const q = roundHalfEvenDiv(num, den);
  return Number(`${q}e${-digits}`);
}

function roundInt(x: bigint, digits: number): bigint {
  if (digits >= 0) return x;
  const m = 10n ** BigInt(-digits);
  return roundHalfEvenDiv(x, m) * m;
}

function round(args: ExpressionValue[]): ExpressionValue {
  const [x, d] = args as [ExpressionValue, ExpressionValue | undefined];
  if (d === undefined) {
    if (typeof x === 'bigint') return x;
    const { mantissa, exponent } = exactParts(x);
    return exponent >= 0 ? mantissa << BigInt(exponent) : roundHalfEvenDiv(mantissa, 1n << BigInt(-exponent));
  }
  if (typeof d !== 'bigint' || d < -15n || d > 15n) {
    throw new ExpressionError('round: digits must be an integer in [-15, 15]');
  }
  return typeof x === 'bigint' ? roundInt(x, Number(d)) : roundFloat(x, Number(d));
}

function toInt(x: number): bigint {
  return BigInt(x);
}

function compare(a: ExpressionValue, b: ExpressionValue): number {
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  const x = Number(a);
  const y = Number(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

function sum(args: ExpressionValue[]): ExpressionValue {
  if (args.every((a) => typeof a === 'bigint'))
    return checkInt((args as bigint[]).reduce((s, x) => s + x, 0n));
  return finite(
    args.reduce<number>((s, x) => s + toFloat(x), 0),
    'sum(...)',
  );
}

type Fn = { min: number; max: number; apply: (args: ExpressionValue[]) => ExpressionValue };
const float = (f: (x: number) => number): Fn => ({ min: 1, max: 1, apply: (a) => f(toFloat(a[0]!)) });
const intOr = (onInt: (x: bigint) => bigint, onFloat: (x: number) => ExpressionValue): Fn => ({
  min: 1,
  max: 1,
  apply: (a) => (typeof a[0] === 'bigint' ? onInt(a[0]) : onFloat(a[0]!)),
});

// `log` is the natural log (with an optional base), as in the original's Python math.log.
const FUNCTIONS: ReadonlyMap<string, Fn> = new Map<string, Fn>([
  ['sqrt', float(Math.sqrt)],
  ['abs', intOr((x) => (x < 0n ? -x : x), Math.abs)],
  ['sin', float(Math.sin)],
  ['cos', float(Math.cos)],
  ['tan', float(Math.tan)],
  ['ln', float(Math.log)],
  ['log10', float(Math.log10)],
  [
    'log',
    {
      min: 1,
      max: 2,
      apply: (a) =>
        a.length === 2 ? Math.log(toFloat(a[0]!)) / Math.log(toFloat(a[1]!)) : Math.log(toFloat(a[0]!)),
    },
  ],
  ['exp', float(Math.exp)],
  [
    'floor',
    intOr(
      (x) => x,
      (x) => toInt(Math.floor(x)),
    ),
  ],
  [
    'ceil',
    intOr(
      (x) => x,
      (x) => toInt(Math.ceil(x)),
    ),
  ],
  ['round', { min: 1, max: 2, apply: round }],
  [
    'min',
    { min: 1, max: EXPRESSION_LIMITS.maxArgs, apply: (a) => a.reduce((m, x) => (compare(x, m) < 0 ? x : m)) },
  ],
  [
    'max',
    { min: 1, max: EXPRESSION_LIMITS.maxArgs, apply: (a) => a.reduce((m, x) => (compare(x, m) > 0 ? x : m)) },
  ],
  ['sum', { min: 1, max: EXPRESSION_LIMITS.maxArgs, apply: sum }],
]);

/** Names callable in expressions (for the tool description and error messages). */
export const EXPRESSION_FUNCTIONS: readonly string[] = [...FUNCTIONS.keys()];

function power(base: ExpressionValue, exponent: ExpressionValue): ExpressionValue {
  if (Math.abs(Number(exponent)) > EXPRESSION_LIMITS.maxExponent) {
    throw new ExpressionError(
      `exponent ${exponent} is larger than ${EXPRESSION_LIMITS.maxExponent} in magnitude`,
    );
  }
  if (typeof base === 'bigint' && typeof exponent === 'bigint' && exponent >= 0n) {
    if (bits(base) > 1 && (bits(base) - 1) * Number(exponent) > EXPRESSION_LIMITS.maxIntegerBits) {
      throw new ExpressionError(`integer result has more than ${EXPRESSION_LIMITS.maxIntegerBits} bits`);
    }
    return checkInt(base ** exponent);
  }
  const x = toFloat(base);
  const y = toFloat(exponent);
  if (x === 0 && y < 0) throw new ExpressionError('division by zero (0 to a negative power)');
  if (x < 0 && !Number.isInteger(y))
    throw new ExpressionError('a negative number to a fractional power is complex');
  return finite(x ** y, 'result');
}

function binary(op: string, a: ExpressionValue, b: ExpressionValue): ExpressionValue {
  if ((op === '/' || op === '//' || op === '%') && isZero(b)) throw new ExpressionError('division by zero');
  if (typeof a === 'bigint' && typeof b === 'bigint') {
    switch (op) {
      case '+':
        return checkInt(a + b);
      case '-':
        return checkInt(a - b);
      case '*':
        // Bound before multiplying: the product has at least bits(a) + bits(b) - 1 bits.
        if (bits(a) + bits(b) - 1 > EXPRESSION_LIMITS.maxIntegerBits)
          return checkInt(2n ** BigInt(bits(a) + bits(b)));
        return checkInt(a * b);
      case '//':
        return floorDivInt(a, b);
      case '%': {
        const r = a % b;
        return r !== 0n && r < 0n !== b < 0n ? r + b : r;
      }
      case '/':
        return a % b === 0n ? toFloat(a / b) : finite(toFloat(a) / toFloat(b), 'result');
    }
  }
  const x = toFloat(a);
  const y = toFloat(b);
  switch (op) {
    case '+':
      return finite(x + y, 'result');
    case '-':
      return finite(x - y, 'result');
    case '*':
      return finite(x * y, 'result');
    case '/':
      return finite(x / y, 'result');
    case '//':
      return finite(Math.floor(x / y), 'result');
    case '%': {
      const r = x % y;
      return r !== 0 && r < 0 !== y < 0 ? r + y : r;
    }
  }
  throw new ExpressionError(`unknown operator ${op}`);
}

type Token =
  | { kind: 'num'; value: ExpressionValue; pos: number }
  | { kind: 'name' | 'op'; text: string; pos: number };

const NUMBER = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    const rest = src.slice(i);
    const num = NUMBER.exec(rest);
    if (num) {
      const text = num[0];
      tokens.push({ kind: 'num', value: /^\d+$/.test(text) ? BigInt(text) : Number(text), pos: i });
      i += text.length;
      continue;
    }
    const name = NAME.exec(rest);
    if (name) {
      tokens.push({ kind: 'name', text: name[0], pos: i });
      i += name[0].length;
      continue;
    }
    if (rest.startsWith('**') || rest.startsWith('//')) {
      tokens.push({ kind: 'op', text: rest.startsWith('**') ? '^' : '//', pos: i });
      i += 2;
      continue;
    }
    if ('+-*/%^(),'.includes(ch)) {
      tokens.push({ kind: 'op', text: ch, pos: i });
      i++;
      continue;
    }
    throw new ExpressionError(`unexpected character ${JSON.stringify(ch)} at position ${i}`);
  }
  return tokens;
}

/** Evaluates `expression`; throws {@link ExpressionError} with a reason the model can act on. */
export function evaluateExpression(expression: string): ExpressionValue {
  if (expression.length > EXPRESSION_LIMITS.maxLength) {
    throw new ExpressionError(`expression is longer than ${EXPRESSION_LIMITS.maxLength} characters`);
  }
  const tokens = tokenize(expression);
  if (tokens.length === 0) throw new ExpressionError('expression is empty');
  let pos = 0;
  let depth = 0;

  const peek = (): Token | undefined => tokens[pos];
  const isOp = (t: Token | undefined, text: string): boolean => t?.kind === 'op' && t.text === text;
  const where = (): string => {
    const t = peek();
    return t ? `at position ${t.pos}` : 'at the end';
  };
  const expectOp = (text: string): void => {
    if (!isOp(peek(), text)) throw new ExpressionError(`expected "${text}" ${where()}`);
    pos++;
  };
  const nest = <T>(f: () => T): T => {
    if (++depth > EXPRESSION_LIMITS.maxDepth) {
      throw new ExpressionError(`expression nests deeper than ${EXPRESSION_LIMITS.maxDepth} levels`);
    }
    try {
      return f();
    } finally {
      depth--;
    }
  };

  function expr(): ExpressionValue {
    return nest(() => {
      let left = term();
      for (let t = peek(); isOp(t, '+') || isOp(t, '-'); t = peek()) {
        pos++;
        left = binary((t as { text: string }).text, left, term());
      }
      return left;
    });
  }

  function term(): ExpressionValue {
    let left = unaryExpr();
    for (let t = peek(); isOp(t, '*') || isOp(t, '/') || isOp(t, '//') || isOp(t, '%'); t = peek()) {
      pos++;
      left = binary((t as { text: string }).text, left, unaryExpr());
    }
    return left;
  }

  function unaryExpr(): ExpressionValue {
    return nest(() => {
      const t = peek();
      if (isOp(t, '-') || isOp(t, '+')) {
        pos++;
        const v = unaryExpr();
        return (t as { text: string }).text === '-' ? -v : v;
      }
      return powerExpr();
    });
  }

  function powerExpr(): ExpressionValue {
    const base = primary();
    if (!isOp(peek(), '^')) return base;
    pos++;
    return power(base, unaryExpr());
  }

  function primary(): ExpressionValue {
    const t = peek();
    if (!t) throw new ExpressionError('unexpected end of expression');
    if (t.kind === 'num') {
      pos++;
      return typeof t.value === 'bigint' ? checkInt(t.value) : finite(t.value, `number at position ${t.pos}`);
    }
    if (isOp(t, '(')) {
      pos++;
      const v = expr();
      expectOp(')');
      return v;
    }
    if (t.kind === 'name') {
      pos++;
      if (isOp(peek(), '(')) return call(t.text, t.pos);
      const c = CONSTANTS.get(t.text);
      if (c === undefined)
        throw new ExpressionError(`unknown name "${t.text}" at position ${t.pos} (constants: pi, e)`);
      return c;
    }
    throw new ExpressionError(`unexpected "${t.text}" at position ${t.pos}`);
  }

  function call(name: string, at: number): ExpressionValue {
    const fn = FUNCTIONS.get(name);
    if (!fn) {
      throw new ExpressionError(
        `unknown function "${name}" at position ${at} (functions: ${EXPRESSION_FUNCTIONS.join(', ')})`,
      );
    }
    expectOp('(');
    const args: ExpressionValue[] = [];
    if (!isOp(peek(), ')')) {
      args.push(expr());
      while (isOp(peek(), ',')) {
        pos++;
        if (args.length >= EXPRESSION_LIMITS.maxArgs)
          throw new ExpressionError(`${name}: too many arguments`);
        args.push(expr());
      }
    }
    expectOp(')');
    if (args.length < fn.min || args.length > fn.max) {
      const range = fn.min === fn.max ? `${fn.min}` : `${fn.min} to ${fn.max}`;
      throw new ExpressionError(`${name} takes ${range} argument(s), got ${args.length}`);
    }
    const v = fn.apply(args);
    return typeof v === 'bigint' ? v : finite(v, `${name}(...)`);
  }

  const value = expr();
  if (pos < tokens.length)
    throw new ExpressionError(`unexpected "${tokenText(tokens[pos]!)}" at position ${tokens[pos]!.pos}`);
  return typeof value === 'bigint' ? value : finite(value, 'result');
}

/** A result as a JSON number literal with every digit (JSON numbers have no precision limit). */
export function formatExpressionValue(value: ExpressionValue): string {
  return typeof value === 'bigint' ? value.toString() : JSON.stringify(value);
}

function tokenText(t: Token): string {
  return t.kind === 'num' ? String(t.value) : t.text;
}
