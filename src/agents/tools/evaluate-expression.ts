/**
 * A bounded arithmetic evaluator (recursive descent; no eval, no Function, no property lookups on
 * user-named keys). Grammar, loosest binding first:
 *
 *   expr    := term (('+' | '-') term)*
 *   term    := unary (('*' | '/' | '%') unary)*
 *   unary   := ('-' | '+') unary | power
 *   power   := primary (('^' | '**') unary)?        right-associative; -2^2 = -(2^2)
 *   primary := number | constant | name '(' expr (',' expr)* ')' | '(' expr ')'
 *
 * Bounds: expression length, nesting depth, exponent magnitude, argument count, and every
 * intermediate result must be a finite number.
 */

export const EXPRESSION_LIMITS = {
  maxLength: 1000,
  maxDepth: 100,
  maxExponent: 1000,
  maxArgs: 100,
} as const;

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

type Fn = { min: number; max: number; apply: (args: number[]) => number };
const unary = (f: (x: number) => number): Fn => ({ min: 1, max: 1, apply: (a) => f(a[0]!) });

function roundTo(x: number, digits = 0): number {
  if (!Number.isInteger(digits) || Math.abs(digits) > 15)
    throw new ExpressionError('round: digits must be an integer in [-15, 15]');
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

// `log` is the natural log (with an optional base), as in the original's Python math.log.
const FUNCTIONS: ReadonlyMap<string, Fn> = new Map<string, Fn>([
  ['sqrt', unary(Math.sqrt)],
  ['abs', unary(Math.abs)],
  ['sin', unary(Math.sin)],
  ['cos', unary(Math.cos)],
  ['tan', unary(Math.tan)],
  ['ln', unary(Math.log)],
  ['log10', unary(Math.log10)],
  [
    'log',
    { min: 1, max: 2, apply: (a) => (a.length === 2 ? Math.log(a[0]!) / Math.log(a[1]!) : Math.log(a[0]!)) },
  ],
  ['exp', unary(Math.exp)],
  ['floor', unary(Math.floor)],
  ['ceil', unary(Math.ceil)],
  ['round', { min: 1, max: 2, apply: (a) => roundTo(a[0]!, a[1]) }],
  ['min', { min: 1, max: EXPRESSION_LIMITS.maxArgs, apply: (a) => Math.min(...a) }],
  ['max', { min: 1, max: EXPRESSION_LIMITS.maxArgs, apply: (a) => Math.max(...a) }],
  ['sum', { min: 1, max: EXPRESSION_LIMITS.maxArgs, apply: (a) => a.reduce((s, x) => s + x, 0) }],
]);

/** Names callable in expressions (for the tool description and error messages). */
export const EXPRESSION_FUNCTIONS: readonly string[] = [...FUNCTIONS.keys()];

type Token = { kind: 'num'; value: number; pos: number } | { kind: 'name' | 'op'; text: string; pos: number };

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
      tokens.push({ kind: 'num', value: Number(num[0]), pos: i });
      i += num[0].length;
      continue;
    }
    const name = NAME.exec(rest);
    if (name) {
      tokens.push({ kind: 'name', text: name[0], pos: i });
      i += name[0].length;
      continue;
    }
    if (rest.startsWith('**')) {
      tokens.push({ kind: 'op', text: '^', pos: i });
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

function finite(value: number, what: string): number {
  if (!Number.isFinite(value)) throw new ExpressionError(`${what} is not a finite number`);
  return value;
}

/** Evaluates `expression`; throws {@link ExpressionError} with a reason the model can act on. */
export function evaluateExpression(expression: string): number {
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

  function expr(): number {
    return nest(() => {
      let left = term();
      for (let t = peek(); isOp(t, '+') || isOp(t, '-'); t = peek()) {
        pos++;
        const plus = isOp(t, '+');
        const right = term();
        left = finite(plus ? left + right : left - right, 'result');
      }
      return left;
    });
  }

  function term(): number {
    let left = unaryExpr();
    for (let t = peek(); isOp(t, '*') || isOp(t, '/') || isOp(t, '%'); t = peek()) {
      pos++;
      const op = (t as { text: string }).text;
      const right = unaryExpr();
      if ((op === '/' || op === '%') && right === 0) throw new ExpressionError('division by zero');
      left = finite(op === '*' ? left * right : op === '/' ? left / right : left % right, 'result');
    }
    return left;
  }

  function unaryExpr(): number {
    return nest(() => {
      const t = peek();
      if (isOp(t, '-') || isOp(t, '+')) {
        pos++;
        const v = unaryExpr();
        return (t as { text: string }).text === '-' ? -v : v;
      }
      return power();
    });
  }

  function power(): number {
    const base = primary();
    if (!isOp(peek(), '^')) return base;
    pos++;
    const exponent = unaryExpr();
    if (Math.abs(exponent) > EXPRESSION_LIMITS.maxExponent) {
      throw new ExpressionError(
        `exponent ${exponent} is larger than ${EXPRESSION_LIMITS.maxExponent} in magnitude`,
      );
    }
    return finite(base ** exponent, 'result');
  }

  function primary(): number {
    const t = peek();
    if (!t) throw new ExpressionError('unexpected end of expression');
    if (t.kind === 'num') {
      pos++;
      return finite(t.value, `number at position ${t.pos}`);
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

  function call(name: string, at: number): number {
    const fn = FUNCTIONS.get(name);
    if (!fn) {
      throw new ExpressionError(
        `unknown function "${name}" at position ${at} (functions: ${EXPRESSION_FUNCTIONS.join(', ')})`,
      );
    }
    expectOp('(');
    const args: number[] = [];
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
    return finite(fn.apply(args), `${name}(...)`);
  }

  const value = expr();
  if (pos < tokens.length)
    throw new ExpressionError(`unexpected "${tokenText(tokens[pos]!)}" at position ${tokens[pos]!.pos}`);
  return finite(value, 'result');
}

function tokenText(t: Token): string {
  return t.kind === 'num' ? String(t.value) : t.text;
}
