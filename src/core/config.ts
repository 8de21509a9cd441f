import { extname } from 'node:path';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { z } from 'zod';
import { CORE_ERRORS, describeValue, MarshalError } from './errors.ts';
import { describeCappedRead, readCappedFile } from './files.ts';
import { sanitizeForLog } from './log-hygiene.ts';

/** Largest config file {@link loadConfigFile} reads (1 MiB): a config is typed by hand. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * Most alias expansions a config may make. YAML aliases let a few hundred bytes expand to
 * gigabytes ("billion laughs"); a hand-written config needs a handful.
 */
export const MAX_CONFIG_ALIASES = 100;

export interface ConfigLoadOptions {
  /** Variables for `${VAR}` interpolation (pass the CLI's io.env). */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * `false` keeps every `${VAR}` and `${VAR:-default}` as written (a config the user has not
   * trusted may not read the environment); the names it refers to are added to `referenced`.
   */
  interpolate?: boolean;
  /** Collects the variable names the file refers to (with or without interpolation). */
  referenced?: Set<string>;
  /** Size cap in bytes; default {@link MAX_CONFIG_BYTES}. */
  maxBytes?: number;
}

/** A config problem: file, line, key path, bad value and what was expected. */
export class ConfigError extends MarshalError {
  constructor(message: string, details: Record<string, unknown>, cause?: unknown) {
    super(CORE_ERRORS.E_CONFIG, message, { details, cause });
    this.name = 'ConfigError';
  }
}

/**
 * Loads a YAML or JSON config file and validates it with a zod schema (use `z.strictObject` so
 * unknown keys are errors). String values may use `${VAR}` or `${VAR:-default}` from `options.env`.
 * The file must be a regular file of at most {@link MAX_CONFIG_BYTES} (FIFOs, devices and
 * directories are refused without reading), and may expand at most {@link MAX_CONFIG_ALIASES}
 * YAML aliases; each of these is a {@link ConfigError} (exit 2) naming the file.
 *
 * @example
 * const cfg = await loadConfigFile('cluster.yaml', ClusterSchema, { env: io.env });
 */
export async function loadConfigFile<S extends z.ZodType>(
  path: string,
  schema: S,
  options: ConfigLoadOptions = {},
): Promise<z.output<S>> {
  // A regular file only, opened without blocking (a FIFO would hang) and read up to a cap (so
  // `-c /dev/urandom` is refused at once instead of read for gigabytes).
  const maxBytes = options.maxBytes ?? MAX_CONFIG_BYTES;
  const read = await readCappedFile(path, { maxBytes });
  if (read.kind !== 'ok') {
    const why = read.kind === 'missing' ? 'not found' : describeCappedRead(read);
    throw new ConfigError(`${sanitizeForLog(path)}: config file ${why}`, {
      file: path,
      reason: read.kind,
      ...(read.kind === 'too-large' ? { maxBytes } : {}),
    });
  }
  const text = read.text;
  return parseConfigText(text, path, schema, options);
}

/** Parses config text (YAML, or JSON when the file name ends in .json) and validates it. */
export function parseConfigText<S extends z.ZodType>(
  text: string,
  fileName: string,
  schema: S,
  options: ConfigLoadOptions = {},
): z.output<S> {
  const file = sanitizeForLog(fileName);
  const lineCounter = new LineCounter();
  const isJson = extname(fileName).toLowerCase() === '.json';
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  } catch (err) {
    throw new ConfigError(`${file}: cannot parse: ${(err as Error).message}`, { file }, err);
  }
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const pos = lineCounter.linePos(e.pos[0]);
    const kind = isJson ? 'JSON' : 'YAML';
    throw new ConfigError(`${file}:${pos.line}:${pos.col}: invalid ${kind}: ${firstLine(e.message)}`, {
      file,
      line: pos.line,
      column: pos.col,
    });
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_CONFIG_ALIASES }) ?? {};
  } catch (err) {
    // The yaml package throws a ReferenceError ("Excessive alias count ...") past the limit.
    const message = err instanceof Error ? err.message : String(err);
    throw new ConfigError(
      /alias/i.test(message)
        ? `${file}: too many YAML alias expansions (more than ${MAX_CONFIG_ALIASES}); refusing a possible alias bomb`
        : `${file}: cannot read the YAML document: ${firstLine(message)}`,
      { file, maxAliasCount: MAX_CONFIG_ALIASES },
      err,
    );
  }
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    const node = nodeAt(doc.contents as YamlNode | null, path);
    const start = node?.range?.[0];
    return start === undefined ? undefined : lineCounter.linePos(start).line;
  };
  const vars: Vars = {
    env: options.env ?? {},
    interpolate: options.interpolate !== false,
    referenced: options.referenced,
  };
  const interpolated = interpolate(raw, [], vars, (path, message, value) => {
    const line = lineOf(path);
    throw new ConfigError(
      `${file}${line ? `:${line}` : ''}: ${sanitizeForLog(`${formatPath(path)}: ${message}`)}`,
      {
        file,
        line,
        path: formatPath(path),
        value,
      },
    );
  });
  const result = schema.safeParse(interpolated);
  if (result.success) return result.data;
  // A misspelt key usually yields both "unknown key" and "missing key": the unknown one says more.
  const issue = result.error.issues.find((i) => i.code === 'unrecognized_keys') ?? result.error.issues[0]!;
  const path = issue.path;
  const unknownKey = issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined;
  const fullPath = unknownKey !== undefined ? [...path, unknownKey] : path;
  const line = lineOf(fullPath) ?? lineOf(path);
  const value = valueAt(interpolated, fullPath);
  // A refinement flagged `params: { secret: true }` (a key pasted where a name belongs) is never echoed.
  const secret = (issue as { params?: { secret?: unknown } }).params?.secret === true;
  const message =
    unknownKey !== undefined
      ? `unknown key ${JSON.stringify(unknownKey)}${suggestKeys(schema, path, String(unknownKey))}`
      : value === undefined && issue.code === 'invalid_type'
        ? `required key is missing (expected ${issue.expected})`
        : `${issue.message.replace(/, received .*$/, '')}${secret ? ' (the value is not shown)' : `, got ${describeValue(value)}`}`;
  const more =
    result.error.issues.length > 1 ? ` (and ${result.error.issues.length - 1} more problem(s))` : '';
  throw new ConfigError(
    `${file}${line ? `:${line}` : ''}: ${sanitizeForLog(`${formatPath(fullPath)}: ${message}`)}${more}`,
    {
      file,
      line,
      path: formatPath(fullPath),
      ...(secret ? {} : { value }),
      issues: result.error.issues.map((i) => ({ path: formatPath(i.path), message: i.message })),
    },
  );
}

/** The JSON Schema (draft 2020-12) of a config schema, for `marshal config schema`. */
export function configJsonSchema(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { unrepresentable: 'any' }) as Record<string, unknown>;
}

const VAR = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\$\{/g;

interface Vars {
  env: Readonly<Record<string, string | undefined>>;
  interpolate: boolean;
  referenced: Set<string> | undefined;
}

function interpolate(
  value: unknown,
  path: PropertyKey[],
  vars: Vars,
  fail: (path: PropertyKey[], message: string, value: unknown) => never,
): unknown {
  if (typeof value === 'string') {
    return value.replace(VAR, (match, name: string | undefined, fallback: string | undefined) => {
      if (name !== undefined) vars.referenced?.add(name);
      if (!vars.interpolate) return match;
      if (name === undefined) return '${'; // `$${` escapes a literal `${`
      const v = vars.env[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      return fail(path, `environment variable ${name} is not set (used as ${match})`, value);
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...path, i], vars, fail));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = interpolate(v, [...path, k], vars, fail);
    return out;
  }
  return value;
}

function nodeAt(node: YamlNode | null, path: readonly PropertyKey[]): YamlNode | null {
  let current: unknown = node;
  for (const key of path) {
    if (isMap(current)) {
      const pair = current.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === key);
      if (!pair) return null;
      current = pair.value;
    } else if (isSeq(current) && typeof key === 'number') {
      current = current.items[key];
    } else {
      return null;
    }
  }
  return (current as YamlNode | null) ?? null;
}

function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** `nodes[1].host` style rendering of a key path; `(root)` for the document itself. */
export function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out === '' ? String(key) : `.${String(key)}`;
  }
  return out;
}

function suggestKeys(schema: z.ZodType, path: readonly PropertyKey[], bad: string): string {
  const keys = allowedKeysAt(schema, path);
  if (!keys || keys.length === 0) return '';
  const near = keys.find(
    (k) => k.toLowerCase() === bad.toLowerCase() || k.replace(/[-_]/g, '') === bad.replace(/[-_]/g, ''),
  );
  return near ? ` (did you mean ${JSON.stringify(near)}?)` : ` (allowed: ${keys.join(', ')})`;
}

type AnyDef = {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  element?: z.ZodType;
  in?: z.ZodType;
};

/** The keys an object schema allows at `path`, following optional/default/array wrappers. */
function allowedKeysAt(schema: z.ZodType, path: readonly PropertyKey[]): string[] | undefined {
  let current: z.ZodType | undefined = schema;
  let i = 0;
  for (let guard = 0; current && guard < 64; guard++) {
    const def: AnyDef = (current as unknown as { _zod: { def: AnyDef } })._zod.def;
    if (def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else if (i === path.length)
      return def.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
    else if (def.type === 'object' && def.shape) current = def.shape[String(path[i++])];
    else if (def.type === 'array' && def.element) {
      current = def.element;
      i++;
    } else return undefined;
  }
  return undefined;
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}
