/**
 * marshal's own tools as an MCP server (`marshal mcp serve`): `tools/list` gives each tool's name,
 * description and JSON Schema; `tools/call` runs it through the same path as an agent's call
 * (executeToolCall: JSON Schema / zod validation, a per-call deadline, errors as text), so the
 * registry's safety settings (write_file only with allowWrite, protected paths, SSRF checks) hold
 * for any MCP client exactly as for marshal's agents. A failed call is an `isError` result.
 */
import type { Readable, Writable } from 'node:stream';
import { executeToolCall } from '../execute-tool-call.ts';
import { type ToolRegistry, toolJsonSchema } from '../tools/tool-registry.ts';

export interface ServeMcpOptions {
  input: Readable;
  output: Writable;
  workspace: string;
  /** Ends the server (closes the transport). */
  signal: AbortSignal;
  /** Bound on each call; default 120 s. */
  callTimeoutMs?: number;
  version?: string;
}

/** Longest result text of one call. */
export const MAX_SERVED_OUTPUT_CHARS = 100_000;

/** Tools `serve` never offers: loop control of marshal's own agent loop. */
export const NOT_SERVED = ['mark_task_complete'] as const;

/** Serves `registry` over stdio until the client disconnects or `signal` aborts. */
export async function serveToolsOverMcp(registry: ToolRegistry, options: ServeMcpOptions): Promise<void> {
  const [{ Server }, { StdioServerTransport }, types] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/index.js'),
    import('@modelcontextprotocol/sdk/server/stdio.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]);
  const tools = registry.without([...NOT_SERVED]);
  const server = new Server(
    { name: 'marshal', version: options.version ?? '0' },
    { capabilities: { tools: {} } },
  );
  server.setRequestHandler(types.ListToolsRequestSchema, async () => ({
    tools: tools.names().map((name) => {
      const tool = tools.get(name)!;
      const schema = toolJsonSchema(tool);
      return {
        name,
        description: tool.description,
        inputSchema: { type: 'object', ...schema } as { type: 'object'; [k: string]: unknown },
      };
    }),
  }));
  let n = 0;
  server.setRequestHandler(types.CallToolRequestSchema, async (request, extra) => {
    const { name } = request.params;
    if (!tools.has(name)) {
      return {
        content: [
          { type: 'text', text: `Unknown tool: ${name}. Available tools: ${tools.names().join(', ')}` },
        ],
        isError: true,
      };
    }
    const result = await executeToolCall(
      { id: `mcp-${++n}`, name, arguments: JSON.stringify(request.params.arguments ?? {}) },
      {
        agentId: 'mcp',
        tools,
        workspace: options.workspace,
        signal: extra.signal,
        timeoutMs: options.callTimeoutMs ?? 120_000,
        maxOutputChars: MAX_SERVED_OUTPUT_CHARS,
      },
    );
    return { content: [{ type: 'text', text: result.content }], isError: !result.ok };
  });
  const transport = new StdioServerTransport(options.input, options.output);
  const closed = new Promise<void>((resolve) => {
    server.onclose = () => resolve();
  });
  // The stdio convention: the client closing our stdin ends the server.
  options.input.once('end', () => void server.close());
  const onAbort = () => void server.close();
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    await server.connect(transport);
    if (options.signal.aborted) await server.close();
    await closed;
  } finally {
    options.signal.removeEventListener('abort', onAbort);
  }
}
