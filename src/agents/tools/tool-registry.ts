/** An immutable, name-keyed set of tools that also renders the specs sent to the model. */

import { z } from 'zod';
import { MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';
import type { ToolSpec } from '../model.ts';
import type { ToolDefinition } from './tool.ts';

/** What a tool name may be (the OpenAI function-name rule); MCP tools are checked against it too. */
export const TOOL_NAME_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
const NAME = TOOL_NAME_PATTERN;

/** JSON Schema for a tool's parameters: its explicit `jsonSchema`, else derived from zod. */
export function toolJsonSchema(tool: ToolDefinition): Record<string, unknown> {
  if (tool.jsonSchema) return tool.jsonSchema;
  const schema = z.toJSONSchema(tool.parameters, { io: 'input', unrepresentable: 'any' }) as Record<
    string,
    unknown
  >;
  const { $schema: _drop, ...rest } = schema;
  return rest;
}

/** The tools one agent may call. Duplicate or malformed names are an error (E_TOOL_DEFINITION). */
export class ToolRegistry {
  readonly #tools: Map<string, ToolDefinition>;

  constructor(tools: readonly ToolDefinition[]) {
    this.#tools = new Map();
    for (const tool of tools) {
      if (!NAME.test(tool.name)) {
        throw new MarshalError(
          AGENT_ERRORS.E_TOOL_DEFINITION,
          `tool name ${JSON.stringify(tool.name)} is invalid`,
          {
            hint: 'tool names are 1-64 characters of letters, digits, "_" and "-"',
            details: { name: tool.name },
          },
        );
      }
      if (this.#tools.has(tool.name)) {
        throw new MarshalError(
          AGENT_ERRORS.E_TOOL_DEFINITION,
          `tool ${JSON.stringify(tool.name)} is defined twice`,
          {
            details: { name: tool.name },
          },
        );
      }
      this.#tools.set(tool.name, tool);
    }
  }

  #specs: readonly ToolSpec[] | undefined;

  /**
   * Specs for the chat request, in registration order. Computed once (the registry is immutable):
   * zod's JSON Schema conversion costs milliseconds per tool, and every agent asks.
   */
  specs(): ToolSpec[] {
    this.#specs ??= Object.freeze(
      [...this.#tools.values()].map((t) => ({
        name: t.name,
        description: t.description,
        parameters: toolJsonSchema(t),
      })),
    );
    return this.#specs as ToolSpec[];
  }

  get(name: string): ToolDefinition | undefined {
    return this.#tools.get(name);
  }

  has(name: string): boolean {
    return this.#tools.has(name);
  }

  names(): string[] {
    return [...this.#tools.keys()];
  }

  get size(): number {
    return this.#tools.size;
  }

  /** A new registry with `more` added (duplicates throw). */
  with(more: readonly ToolDefinition[]): ToolRegistry {
    return new ToolRegistry([...this.#tools.values(), ...more]);
  }

  /** A new registry without the named tools (e.g. the decomposer drops mark_task_complete). */
  without(names: readonly string[]): ToolRegistry {
    return new ToolRegistry([...this.#tools.values()].filter((t) => !names.includes(t.name)));
  }
}
