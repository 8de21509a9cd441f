/**
 * `marshal config schema [kind]`: prints the JSON Schema of a config file, for editors and CI.
 * Kinds are a registry: another subsystem adds its file by adding an entry.
 */

import type { z } from 'zod';
import { marshalConfigSchema } from '../agents/index.ts';
import { CORE_ERRORS, configJsonSchema, ExitCode, UsageError } from '../core/index.ts';
import { EnvFileSchema } from '../supervisor/index.ts';
import { ClusterFileSchema } from '../training/index.ts';
import type { CommandSpec } from './command.ts';
import { printJson } from './io.ts';
import { closest } from './suggest.ts';

export interface ConfigKind {
  /** What file it describes. */
  description: string;
  schema: z.ZodType;
}

/** Config kinds by name. */
export const CONFIG_KINDS: Readonly<Record<string, ConfigKind>> = {
  marshal: {
    description: 'marshal.yaml: settings of marshal heavy and marshal ask',
    schema: marshalConfigSchema,
  },
  cluster: {
    description: 'cluster.yaml: nodes, launcher and paths of marshal train',
    schema: ClusterFileSchema,
  },
  env: {
    description: 'environments/<name>/marshal-env.yaml: how marshal supervise runs a server',
    schema: EnvFileSchema,
  },
};

/** The JSON Schema document of `kind`, with a title and description. Throws E_INVALID_INPUT for an unknown kind. */
export function configSchemaDocument(kind: string): Record<string, unknown> {
  const entry = Object.hasOwn(CONFIG_KINDS, kind) ? CONFIG_KINDS[kind] : undefined;
  if (!entry) {
    const names = Object.keys(CONFIG_KINDS);
    const guess = closest(kind, names);
    throw new UsageError(
      `config schema: unknown kind ${JSON.stringify(kind)}${guess ? ` (did you mean ${JSON.stringify(guess)}?)` : ''}`,
      {
        code: CORE_ERRORS.E_INVALID_INPUT,
        details: { field: 'kind', value: kind },
        hint: `kinds: ${names.join(', ')}`,
      },
    );
  }
  return { title: kind, description: entry.description, ...configJsonSchema(entry.schema) };
}

export const configSchemaCommand: CommandSpec = {
  name: 'config schema',
  summary: 'print the JSON Schema of a config file',
  usage: 'config schema [kind]',
  description: `Kinds: ${Object.entries(CONFIG_KINDS)
    .map(([k, v]) => `${k} (${v.description})`)
    .join('; ')}. Default: marshal.`,
  options: {},
  positionals: { min: 0, max: 1, names: '[kind]' },
  examples: ['marshal config schema > marshal.schema.json'],
  run: async (ctx) => {
    printJson(ctx.io, configSchemaDocument(ctx.positionals[0] ?? 'marshal'));
    return ExitCode.ok;
  },
};
