/**
 * Auto-discovery of plug-in tools from a directory (`--tools-dir`), like the original's `tools/`
 * scan. Each `.js`/`.mjs` module exports tool definitions as its default export (one or an array),
 * `tools` (array) or `tool`. `parameters` is a zod schema or a plain JSON Schema object (see
 * json-schema-params.ts). A broken module is reported with its path and skipped; the rest load.
 */

import { readdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { z } from 'zod';
import { MarshalError } from '../../core/errors.ts';
import { sanitizeForLog } from '../../core/log-hygiene.ts';
import { AGENT_ERRORS } from '../errors.ts';
import { isJsonObjectSchema, zodFromJsonSchema } from './json-schema-params.ts';
import type { ToolDefinition } from './tool.ts';
import { runAsToolCode } from './tool-output-guard.ts';

export interface LoadToolsResult {
  tools: ToolDefinition[];
  errors: Array<{ path: string; message: string }>;
}

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

function isZodSchema(value: unknown): value is z.ZodType {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { safeParse?: unknown }).safeParse === 'function' &&
    '_zod' in value
  );
}

/** Checks one exported value; returns the definition or why it is not one. */
export function toToolDefinition(value: unknown): ToolDefinition | string {
  if (typeof value !== 'object' || value === null) return 'a tool definition must be an object';
  const v = value as Record<string, unknown>;
  if (typeof v.name !== 'string' || !NAME.test(v.name)) {
    return `name must be 1-64 letters, digits, "_" or "-", got ${JSON.stringify(v.name) ?? String(v.name)}`;
  }
  if (typeof v.description !== 'string') return `tool ${v.name}: description must be a string`;
  if (typeof v.execute !== 'function') return `tool ${v.name}: execute must be a function`;
  const execute = v.execute as ToolDefinition['execute'];
  const base = {
    name: v.name,
    description: v.description,
    // Plug-in output goes to stderr (tool-output-guard.ts): stdout belongs to the CLI's answer.
    execute: (args: unknown, ctx: Parameters<ToolDefinition['execute']>[1]) =>
      runAsToolCode(() => execute.call(value, args, ctx)),
  };
  if (isZodSchema(v.parameters)) {
    try {
      z.toJSONSchema(v.parameters, { io: 'input', unrepresentable: 'any' });
    } catch (error) {
      return `tool ${v.name}: parameters cannot be shown as JSON Schema (${(error as Error).message})`;
    }
    return { ...base, parameters: v.parameters };
  }
  if (isJsonObjectSchema(v.parameters)) {
    const jsonSchema = { type: 'object', properties: {}, ...v.parameters };
    return { ...base, parameters: zodFromJsonSchema(jsonSchema), jsonSchema };
  }
  return `tool ${v.name}: parameters must be a zod schema or a JSON Schema object`;
}

function exportedCandidates(mod: Record<string, unknown>): unknown[] | undefined {
  const out: unknown[] = [];
  for (const key of ['default', 'tools', 'tool']) {
    const value = mod[key];
    if (value === undefined) continue;
    if (Array.isArray(value)) out.push(...value);
    else out.push(value);
  }
  return out.length > 0 ? out : undefined;
}

/**
 * Imports every `.js`/`.mjs` file directly in `dir` (sorted by name). A missing or unreadable
 * directory throws E_TOOLS_DIR (exit 2); problems with single modules land in `errors`.
 * Note: modules run in this process with its privileges; only point this at code you trust. Their
 * stdout writes (console.log ...) go to stderr, at import and in execute.
 */
export async function loadToolsDir(dir: string): Promise<LoadToolsResult> {
  const root = resolve(dir);
  let names: string[];
  try {
    const entries = await readdir(root, { withFileTypes: true });
    names = entries
      .filter((e) => (e.isFile() || e.isSymbolicLink()) && /\.(m?js)$/.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch (error) {
    throw new MarshalError(
      AGENT_ERRORS.E_TOOLS_DIR,
      `tools dir ${sanitizeForLog(dir)}: ${(error as Error).message}`,
      {
        cause: error,
        details: { dir },
      },
    );
  }
  const tools: ToolDefinition[] = [];
  const errors: LoadToolsResult['errors'] = [];
  const seen = new Map<string, string>();
  for (const name of names) {
    const path = join(root, name);
    let mod: Record<string, unknown>;
    try {
      mod = (await runAsToolCode(() => import(pathToFileURL(path).href))) as Record<string, unknown>;
    } catch (error) {
      errors.push({
        path,
        message: `import failed: ${sanitizeForLog(error instanceof Error ? error.message : String(error))}`,
      });
      continue;
    }
    const candidates = exportedCandidates(mod);
    if (!candidates) {
      errors.push({
        path,
        message: 'exports no tool definitions (expected a default export, `tools` or `tool`)',
      });
      continue;
    }
    const defs: ToolDefinition[] = [];
    const problems: string[] = [];
    for (const candidate of candidates) {
      const def = toToolDefinition(candidate);
      if (typeof def === 'string') problems.push(def);
      else if (seen.has(def.name) || defs.some((d) => d.name === def.name)) {
        problems.push(
          `tool ${def.name} is already defined${seen.has(def.name) ? ` by ${seen.get(def.name)}` : ''}`,
        );
      } else defs.push(def);
    }
    // A module with a bad definition is skipped whole: half a plug-in is worse than none.
    if (problems.length > 0) {
      errors.push({ path, message: problems.map(sanitizeForLog).join('; ') });
      continue;
    }
    for (const def of defs) seen.set(def.name, path);
    tools.push(...defs);
  }
  return { tools, errors };
}
