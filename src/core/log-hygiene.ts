/**
 * Log hygiene (CWE-117): user-controlled text is neutralised before it reaches a log line or a
 * terminal, and secrets are redacted.
 */

// C0 controls except TAB, DEL, C1 controls, the Unicode line/paragraph separators, and the
// bidirectional overrides/isolates that can make a log line display differently from its bytes.
const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g;

function escapeChar(ch: string): string {
  switch (ch) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\u001b':
      return '\\e';
    default:
      return `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;
  }
}

/**
 * Makes user-controlled text safe for a single log line: CR, LF, ESC and every other control
 * character become visible escapes (`\n`, `\r`, `\e`, `\u0007`), so a value can never forge a new
 * log entry or drive the terminal.
 */
export function sanitizeForLog(text: string): string {
  return text.replace(CONTROL, escapeChar);
}

/** Like {@link sanitizeForLog} but keeps newlines (for multi-line terminal output such as answers). */
export function sanitizeForTerminal(text: string, keepNewlines = false): string {
  if (!keepNewlines) return sanitizeForLog(text);
  return text
    .split('\n')
    .map((line) => sanitizeForLog(line))
    .join('\n');
}

const SECRET_PATTERNS: RegExp[] = [
  /\bsk-(?:or-v1-|proj-|ant-)?[A-Za-z0-9_-]{16,}\b/g,
  /\bgh[pousr]_[A-Za-z0-9]{20,}\b/g,
  /\bxox[abpr]-[A-Za-z0-9-]{10,}\b/g,
  /\bAKIA[0-9A-Z]{16}\b/g,
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi,
  // The value may not be a scheme word: `Authorization: Bearer x` keeps "Bearer" (its token is redacted above).
  /\b((?:api[_-]?key|token|secret|password|passwd|authorization)\s*["']?\s*[:=]\s*["']?)((?!(?:bearer|basic)\s)[^\s"',;&]{4,})/gi,
];

/**
 * Redacts secrets from text: known key formats, bearer tokens, `key=value` pairs with secret-like
 * names, and any exact values passed in `known` (for example the API key in use).
 */
export function redactSecrets(text: string, known: readonly string[] = []): string {
  let out = text;
  for (const value of known) {
    if (value && value.length >= 4) out = out.split(value).join('[REDACTED]');
  }
  for (const re of SECRET_PATTERNS) {
    out = out.replace(re, (_match: string, p1?: string, p2?: string) => {
      if (p2 !== undefined && p1 !== undefined && /[:=]/.test(p1)) return `${p1}[REDACTED]`;
      if (p1 !== undefined && /^(bearer|basic)$/i.test(p1)) return `${p1} [REDACTED]`;
      return '[REDACTED]';
    });
  }
  return out;
}

// Key names (lower-cased, without `_` and `-`) whose string values are always secrets.
const SECRET_KEY_SUFFIXES = ['apikey', 'authorization', 'password', 'passwd', 'secret', 'token', 'cookie'];

function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[_-]/g, '');
  return SECRET_KEY_SUFFIXES.some((suffix) => k.endsWith(suffix));
}

/**
 * Sanitises and redacts every string inside a JSON-like value (keys included), for structured logs.
 * String values under secret-looking keys (`apiKey`, `authorization`, `refresh_token`, ...) become
 * `[REDACTED]`. The result is always JSON-serialisable: Errors become `{name, message, code?}`,
 * Dates ISO strings, bigints strings, cycles `[Circular]`, nesting past 32 levels `[Truncated]`.
 */
export function scrubValue(value: unknown, known: readonly string[] = [], depth = 0): unknown {
  return scrub(value, known, depth, new WeakSet());
}

function scrub(value: unknown, known: readonly string[], depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return sanitizeForLog(redactSecrets(value, known));
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (depth > 32) return '[Truncated]';
  if (seen.has(value)) return '[Circular]';
  seen.add(value);
  try {
    if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
    if (value instanceof Error) {
      const code = (value as NodeJS.ErrnoException).code;
      const plain = { name: value.name, message: value.message, ...(code !== undefined && { code }) };
      return scrub(plain, known, depth + 1, seen);
    }
    if (Array.isArray(value)) return value.map((v) => scrub(v, known, depth + 1, seen));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[sanitizeForLog(k)] =
        isSecretKey(k) && typeof v === 'string' ? '[REDACTED]' : scrub(v, known, depth + 1, seen);
    }
    return out;
  } finally {
    // Only ancestors count as a cycle: the same object twice side by side is fine.
    seen.delete(value);
  }
}
