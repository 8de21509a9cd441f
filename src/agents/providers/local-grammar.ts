/**
 * The JSON shapes `provider: local` constrains generation to (node-llama-cpp's JSON-schema
 * grammar), and their bounds. Pure.
 *
 * A weak or random-weight model rarely closes a string on its own, so every string is bounded
 * (`maxLength`, in characters) such that the whole structure fits in the reply's token budget:
 * the skeleton (keys, punctuation, whitespace) at one token a character, the strings at
 * {@link TOKENS_PER_CHAR} (byte-level tokens of multi-byte text). A decomposition then ends with
 * its N questions, a tool call with its arguments, unless the budget cannot hold the skeleton.
 * The final-answer string gets the whole budget instead; cut by `maxTokens`, its text so far is
 * recovered ({@link partialAnswer}), as an HTTP endpoint returns a truncated reply.
 */
import type { ToolSpec } from '../model.ts';

/** Longest string the grammar lets the model write in one field, in characters. */
export const MAX_STRING = 16_000;
/** Worst case of tokens per character the budgets allow for (a 3-byte UTF-8 character as bytes). */
export const TOKENS_PER_CHAR = 3;
/** At most this many tool calls in one reply. */
const MAX_TOOL_CALLS = 4;
/** Array bound when the schema sets none. */
const MAX_ITEMS = 16;

/** A JSON Schema reduced to what the grammar supports, each string bounded by `maxString`. */
export function grammarSchema(schema: unknown, maxString: number): Record<string, unknown> {
  if (schema === null || typeof schema !== 'object') return { type: 'string', maxLength: maxString };
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum)) return { enum: s.enum };
  if ('const' in s) return { const: s.const };
  const alternatives = (s.oneOf ?? s.anyOf) as unknown[] | undefined;
  if (Array.isArray(alternatives)) return { oneOf: alternatives.map((a) => grammarSchema(a, maxString)) };
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'string': {
      const min = typeof s.minLength === 'number' ? s.minLength : undefined;
      const max = Math.min(typeof s.maxLength === 'number' ? s.maxLength : maxString, maxString);
      return {
        type: 'string',
        ...(min === undefined ? {} : { minLength: min }),
        maxLength: Math.max(max, min ?? 0),
      };
    }
    case 'number':
    case 'integer':
    case 'boolean':
    case 'null':
      return { type };
    case 'array':
      return {
        type: 'array',
        items: grammarSchema(s.items ?? { type: 'string' }, maxString),
        ...(typeof s.minItems === 'number' ? { minItems: s.minItems } : {}),
        maxItems: typeof s.maxItems === 'number' ? s.maxItems : MAX_ITEMS,
      };
    default: {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : Object.keys(props));
      // The grammar writes every property it lists: keep the required ones (optional ones are left out).
      const properties: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(props))
        if (required.has(k)) properties[k] = grammarSchema(v, maxString);
      return { type: 'object', properties };
    }
  }
}

/** How many strings a value of a reduced schema holds at most (the largest alternative). */
export function stringSlots(schema: Record<string, unknown>): number {
  if (Array.isArray(schema.oneOf)) return Math.max(0, ...schema.oneOf.map((a) => stringSlots(a)));
  switch (schema.type) {
    case 'string':
      return 1;
    case 'array':
      return (schema.maxItems as number) * stringSlots(schema.items as Record<string, unknown>);
    case 'object':
      return Object.values(schema.properties as Record<string, Record<string, unknown>>).reduce(
        (n, p) => n + stringSlots(p),
        0,
      );
    default:
      return 0;
  }
}

/**
 * Characters of a value of a reduced schema apart from its strings' content: keys, quotes,
 * punctuation, the longest numbers and the grammar's whitespace (at most one space or a newline
 * plus indentation per separator). At one token a character, an upper bound on those tokens.
 */
export function skeletonChars(schema: Record<string, unknown>, depth = 1): number {
  const space = 1 + 4 * depth;
  if (Array.isArray(schema.oneOf)) return Math.max(0, ...schema.oneOf.map((a) => skeletonChars(a, depth)));
  if (Array.isArray(schema.enum)) return Math.max(0, ...schema.enum.map((v) => JSON.stringify(v).length));
  if ('const' in schema) return JSON.stringify(schema.const).length;
  switch (schema.type) {
    case 'string':
      return 2;
    case 'integer':
      return 17;
    case 'number':
      return 40;
    case 'boolean':
      return 5;
    case 'null':
      return 4;
    case 'array': {
      const item = skeletonChars(schema.items as Record<string, unknown>, depth + 1);
      return 2 + space + (schema.maxItems as number) * (item + 1 + space);
    }
    default:
      return Object.entries(schema.properties as Record<string, Record<string, unknown>>).reduce(
        (n, [k, v]) => n + JSON.stringify(k).length + 2 + 2 * space + skeletonChars(v, depth + 1),
        2 + space,
      );
  }
}

/** The per-string bound that makes `slots` strings fit in the `tokens` left (at least 1 character). */
export function stringBound(tokens: number, slots: number): number {
  if (slots === 0) return MAX_STRING;
  return Math.max(1, Math.min(MAX_STRING, Math.floor(tokens / (TOKENS_PER_CHAR * slots))));
}

/** `schema` reduced, its strings bounded so that a whole value fits in `maxTokens`. */
export function budgetedSchema(schema: unknown, maxTokens: number): Record<string, unknown> {
  const full = grammarSchema(schema, MAX_STRING);
  return grammarSchema(schema, stringBound(maxTokens - skeletonChars(full), stringSlots(full)));
}

/**
 * The reply schema of a chat with tools: calls of the offered tools, as many (up to 4) and with
 * arguments as long as fit in `maxTokens`, or a final answer (the whole budget).
 */
export function toolReplySchema(tools: ToolSpec[], maxTokens: number): Record<string, unknown> {
  const answer = {
    type: 'object',
    properties: { answer: { type: 'string', maxLength: Math.min(MAX_STRING, maxTokens * 4) } },
  };
  if (tools.length === 0) return answer;
  const calls = (bound: number, n: number) => {
    const call = (t: ToolSpec) => ({
      type: 'object',
      properties: { name: { const: t.name }, arguments: grammarSchema(t.parameters, bound) },
    });
    return {
      type: 'object',
      properties: {
        tool_calls: {
          type: 'array',
          items: tools.length === 1 ? call(tools[0]!) : { oneOf: tools.map(call) },
          minItems: 1,
          maxItems: n,
        },
      },
    };
  };
  // The most calls whose skeleton leaves at least 4 characters a string; else one call.
  let chosen = calls(1, 1);
  for (let n = MAX_TOOL_CALLS; n >= 1; n--) {
    const full = calls(MAX_STRING, n);
    const left = maxTokens - skeletonChars(full);
    const slots = stringSlots(full);
    if (n === 1 || left >= TOKENS_PER_CHAR * 4 * slots) {
      chosen = calls(stringBound(left, slots), n);
      break;
    }
  }
  return { oneOf: [chosen, answer] };
}

/**
 * The text of `{"answer": "...` cut anywhere (a reply stopped by `maxTokens`), or undefined when
 * `text` does not start that way.
 */
export function partialAnswer(text: string): string | undefined {
  const start = /^\s*\{\s*"answer"\s*:\s*"/.exec(text);
  if (start === null) return undefined;
  let body = text.slice(start[0].length);
  // Up to the closing quote, if the string got that far.
  for (let i = 0; i < body.length; i++) {
    if (body[i] === '\\') i++;
    else if (body[i] === '"') {
      body = body.slice(0, i);
      break;
    }
  }
  // A cut escape (`\`, `\u00`) at the end: drop it.
  for (let cut = 0; cut <= 6 && cut <= body.length; cut++) {
    try {
      return JSON.parse(`"${body.slice(0, body.length - cut)}"`) as string;
    } catch {
      // try a shorter tail
    }
  }
  return undefined;
}
