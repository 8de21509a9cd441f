import { ExitCode } from '../core/index.ts';
import { planJsonSchema } from '../training/index.ts';
import type { CommandSpec } from './command.ts';
import { printJson } from './io.ts';

export const trainSchemaCommand: CommandSpec = {
  name: 'train schema',
  summary: 'print the JSON Schema of the training plan',
  usage: 'train schema',
  description: 'Prints the JSON Schema (draft 2020-12) of plan.json as written by `marshal train plan`.',
  options: {},
  examples: ['marshal train schema > plan.schema.json'],
  async run({ io }) {
    printJson(io, planJsonSchema());
    return ExitCode.ok;
  },
};
