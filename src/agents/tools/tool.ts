/**
 * The tool contract: a name, a description, a zod schema for the arguments and an `execute` that
 * returns the text the model sees. The registry, the built-ins and the tools-dir
 * loader live next to it.
 */
import type { z } from 'zod';

/** What a tool gets besides its arguments. */
export interface ToolContext {
  /** Aborts when the agent is cancelled or times out; pass it to every wait. */
  signal: AbortSignal;
  /** Absolute workspace root; file tools are confined to it. */
  workspace: string;
}

/** A tool the agent can call (OpenAI function-calling format). */
export interface ToolDefinition<P = unknown> {
  name: string;
  description: string;
  /** Validates the parsed JSON arguments; its JSON Schema is what the model is shown. */
  parameters: z.ZodType<P>;
  /**
   * The JSON Schema shown to the model, when it must differ from the one derived from
   * `parameters` (tools loaded from a plain JSON Schema keep theirs verbatim).
   */
  jsonSchema?: Record<string, unknown>;
  /** Runs the tool. Throwing is fine: the message goes back to the model as a tool error. */
  execute(args: P, ctx: ToolContext): Promise<string>;
}
