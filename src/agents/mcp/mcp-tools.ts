/**
 * MCP servers as tool sources (`mcp.servers` of marshal.yaml). Each server is started lazily, the
 * first time its tools are listed or called (`listTools`), over stdio (a child process in its own
 * group, see process-transport.ts) or streamable HTTP, with the SDK's `Client`. Its tools join the
 * registry as `SERVER__TOOL`, their JSON Schemas validated like plug-in tools
 * (tools/json-schema-params.ts). A server that dies fails only the calls that need it: they come
 * back to the model as tool errors naming the server and how it exited; every other tool keeps
 * working. `close()` stops every server (and awaits their exit): call it when the run ends.
 */
import { resolve } from 'node:path';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { deadline } from '../../core/deadline.ts';
import { MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';
import type { McpServerConfig } from '../marshal-config.ts';
import { isJsonObjectSchema, zodFromJsonSchema } from '../tools/json-schema-params.ts';
import type { ToolDefinition } from '../tools/tool.ts';
import { TOOL_NAME_PATTERN } from '../tools/tool-registry.ts';
import { ProcessTransport } from './process-transport.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Separator of the server and the tool in an offered name (`everything__echo`). */
export const MCP_NAME_SEPARATOR = '__';
/** The variables a stdio server inherits (the SDK's `getDefaultEnvironment` list); `env` adds to them. */
export const MCP_INHERITED_ENV = ['HOME', 'LOGNAME', 'PATH', 'SHELL', 'TERM', 'USER'] as const;
const DEFAULT_CALL_TIMEOUT_MS = 60_000;
const DEFAULT_START_TIMEOUT_MS = 30_000;
/** Longest tool result handed to the model (characters); the rest is cut with a note. */
export const MAX_MCP_RESULT_CHARS = 100_000;

/** A tool a server offers, as listed. */
export interface McpToolInfo {
  server: string;
  /** The tool's name on its server. */
  tool: string;
  /** The name offered to the model (`server__tool`). */
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

/** A tool of a server that could not be offered (bad name or schema). */
export interface McpSkipped {
  server: string;
  tool?: string;
  message: string;
}

export interface McpListing {
  tools: McpToolInfo[];
  /** Servers that did not start or list, and tools left out, each with the reason. */
  problems: McpSkipped[];
}

export interface McpToolSourceOptions {
  /** Where a server's relative `cwd` resolves; also its default cwd. */
  baseDir: string;
  /** The environment the inherited variables come from. */
  env: Env;
}

/** One configured server and its connection state. */
class McpServerConnection {
  readonly name: string;
  readonly #config: McpServerConfig;
  readonly #options: McpToolSourceOptions;
  #connecting: Promise<Client> | undefined;
  #client: Client | undefined;
  #transport: ProcessTransport | Transport | undefined;
  /** Why it is unusable (it died, or was closed), once it is. */
  #down: string | undefined;
  #closed = false;
  #tools: McpToolInfo[] | undefined;

  constructor(name: string, config: McpServerConfig, options: McpToolSourceOptions) {
    this.name = name;
    this.#config = config;
    this.#options = options;
  }

  /** PID of a stdio server once started. */
  get pid(): number | undefined {
    return this.#transport instanceof ProcessTransport ? this.#transport.pid : undefined;
  }

  get callTimeoutMs(): number {
    return this.#config.timeout === undefined ? DEFAULT_CALL_TIMEOUT_MS : this.#config.timeout * 1000;
  }

  #fail(message: string, cause?: unknown): MarshalError {
    return new MarshalError(AGENT_ERRORS.E_MCP_SERVER, `MCP server ${this.name}: ${message}`, {
      ...(cause === undefined ? {} : { cause }),
      details: { server: this.name },
    });
  }

  /** Connects once (concurrent callers share the attempt); a dead server is not restarted. */
  connect(signal: AbortSignal | undefined): Promise<Client> {
    if (this.#down !== undefined) return Promise.reject(this.#fail(this.#down));
    this.#connecting ??= this.#start(signal);
    return this.#connecting;
  }

  async #start(signal: AbortSignal | undefined): Promise<Client> {
    const [{ Client }, stdio, http] = await Promise.all([
      import('@modelcontextprotocol/sdk/client/index.js'),
      import('@modelcontextprotocol/sdk/shared/stdio.js'),
      import('@modelcontextprotocol/sdk/client/streamableHttp.js'),
    ]);
    const c = this.#config;
    let transport: ProcessTransport | Transport;
    if (c.command !== undefined) {
      const env: Record<string, string> = {};
      for (const key of MCP_INHERITED_ENV) {
        const value = this.#options.env[key];
        if (value !== undefined && !value.startsWith('()')) env[key] = value;
      }
      Object.assign(env, c.env ?? {});
      transport = new ProcessTransport(
        [c.command, ...(c.args ?? [])],
        {
          cwd: resolve(this.#options.baseDir, c.cwd ?? '.'),
          env,
        },
        stdio,
      );
    } else {
      transport = new http.StreamableHTTPClientTransport(new URL(c.url!), {
        requestInit: { headers: c.headers ?? {}, redirect: 'error' },
      });
    }
    this.#transport = transport;
    const client = new Client({ name: 'marshal', version: '1' });
    client.onclose = () => {
      this.#down ??= this.#closed ? 'stopped with the run' : `exited (${this.#exitText()})`;
    };
    const startMs = c.startTimeout === undefined ? DEFAULT_START_TIMEOUT_MS : c.startTimeout * 1000;
    const bound = deadline(startMs, [signal], `starting MCP server ${this.name}`);
    try {
      await client.connect(transport, { signal: bound.signal, timeout: startMs });
    } catch (error) {
      await transport.close().catch(() => {});
      const why = bound.expired
        ? `did not start within ${startMs / 1000} s`
        : `could not start: ${error instanceof Error ? error.message : String(error)}`;
      this.#down = why;
      throw this.#fail(`${why}${this.#stderrText()}`, error);
    } finally {
      bound.clear();
    }
    this.#client = client;
    return client;
  }

  /** When a stdio server is exiting, waits (at most 2 s) until its exit is recorded. */
  async #settleExit(): Promise<void> {
    const t = this.#transport;
    const exited = t instanceof ProcessTransport ? t.exited : undefined;
    if (exited === undefined || this.#down !== undefined) return;
    const bound = deadline(2000, [], `MCP server ${this.name} to exit`);
    try {
      const info = await Promise.race([
        exited,
        new Promise<undefined>((resolve) => bound.signal.addEventListener('abort', () => resolve(undefined))),
      ]);
      if (info !== undefined) this.#down ??= `exited (${this.#exitText()})`;
    } finally {
      bound.clear();
    }
  }

  #exitText(): string {
    const t = this.#transport;
    if (!(t instanceof ProcessTransport)) return 'connection closed';
    const exit = t.exit;
    if (!exit) return 'connection closed';
    return exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
  }

  #stderrText(): string {
    const t = this.#transport;
    const last = t instanceof ProcessTransport ? t.stderrTail.at(-1) : undefined;
    return last ? `; its stderr: ${last.slice(0, 300)}` : '';
  }

  /** Its tools (listed once per run). */
  async listTools(signal: AbortSignal | undefined): Promise<{ tools: McpToolInfo[]; skipped: McpSkipped[] }> {
    const skipped: McpSkipped[] = [];
    if (this.#tools) return { tools: this.#tools, skipped };
    const client = await this.connect(signal);
    const tools: McpToolInfo[] = [];
    let cursor: string | undefined;
    const bound = deadline(
      DEFAULT_START_TIMEOUT_MS,
      [signal],
      `listing the tools of MCP server ${this.name}`,
    );
    try {
      do {
        const page = await client.listTools(cursor === undefined ? {} : { cursor }, { signal: bound.signal });
        for (const t of page.tools) {
          const name = `${this.name}${MCP_NAME_SEPARATOR}${t.name}`;
          if (!TOOL_NAME_PATTERN.test(name)) {
            skipped.push({
              server: this.name,
              tool: t.name,
              message: `${JSON.stringify(name)} is not a valid tool name (1-64 of letters, digits, "_", "-")`,
            });
            continue;
          }
          if (!isJsonObjectSchema(t.inputSchema)) {
            skipped.push({
              server: this.name,
              tool: t.name,
              message: 'its inputSchema is not an object schema',
            });
            continue;
          }
          const { $schema: _drop, ...schema } = t.inputSchema as Record<string, unknown>;
          tools.push({
            server: this.name,
            tool: t.name,
            name,
            description: t.description ?? t.title ?? t.name,
            inputSchema: schema,
          });
        }
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    } catch (error) {
      if (error instanceof MarshalError) throw error;
      throw this.#fail(
        `listing its tools failed: ${error instanceof Error ? error.message : String(error)}`,
        error,
      );
    } finally {
      bound.clear();
    }
    this.#tools = tools;
    return { tools, skipped };
  }

  /** Calls `tool`; its text content (or structured content) is the result, `isError` throws. */
  async callTool(tool: string, args: Record<string, unknown>, signal: AbortSignal): Promise<string> {
    const client = await this.connect(signal);
    let result: { content?: unknown; structuredContent?: unknown; isError?: unknown };
    try {
      result = (await client.callTool({ name: tool, arguments: args }, undefined, {
        signal,
        timeout: this.callTimeoutMs,
      })) as typeof result;
    } catch (error) {
      // A write to a server that just died fails (EPIPE) before its exit is seen: wait for it briefly.
      await this.#settleExit();
      if (this.#down !== undefined)
        throw this.#fail(`${this.#down}${this.#stderrText()}; ${tool} did not complete`, error);
      throw this.#fail(`${tool} failed: ${error instanceof Error ? error.message : String(error)}`, error);
    }
    const text = resultText(result);
    if (result.isError === true) throw this.#fail(`${tool} reported an error: ${text || '(no message)'}`);
    return text;
  }

  async close(): Promise<void> {
    this.#closed = true;
    const pending = this.#connecting;
    if (pending) await pending.catch(() => {});
    this.#down ??= 'stopped with the run';
    await this.#client?.close().catch(() => {});
    // Client.close() closes the transport; a stdio one also awaits its group's exit.
    await this.#transport?.close().catch(() => {});
  }
}

/** The text the model gets from a tool result's content blocks. */
export function resultText(result: { content?: unknown; structuredContent?: unknown }): string {
  const parts: string[] = [];
  const content = Array.isArray(result.content) ? (result.content as Array<Record<string, unknown>>) : [];
  for (const block of content) {
    switch (block.type) {
      case 'text':
        parts.push(String(block.text ?? ''));
        break;
      case 'image':
      case 'audio':
        parts.push(
          `[${block.type} ${String(block.mimeType ?? '')}, ${String(block.data ?? '').length} base64 characters]`,
        );
        break;
      case 'resource': {
        const r = (block.resource ?? {}) as Record<string, unknown>;
        parts.push(typeof r.text === 'string' ? r.text : `[resource ${String(r.uri ?? '')}]`);
        break;
      }
      case 'resource_link':
        parts.push(`[resource link ${String(block.uri ?? '')}]`);
        break;
      default:
        parts.push(JSON.stringify(block));
    }
  }
  if (parts.length === 0 && result.structuredContent !== undefined)
    parts.push(JSON.stringify(result.structuredContent));
  const text = parts.join('\n');
  return text.length > MAX_MCP_RESULT_CHARS
    ? `${text.slice(0, MAX_MCP_RESULT_CHARS)}\n[cut: the result had ${text.length} characters]`
    : text;
}

/** Every configured MCP server of a run. */
export class McpToolSource {
  readonly #servers: McpServerConnection[];

  constructor(servers: Readonly<Record<string, McpServerConfig>>, options: McpToolSourceOptions) {
    this.#servers = Object.entries(servers).map(
      ([name, config]) => new McpServerConnection(name, config, options),
    );
  }

  get size(): number {
    return this.#servers.length;
  }

  /** PIDs of the stdio servers started so far, by server name. */
  pids(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const s of this.#servers) if (s.pid !== undefined) out[s.name] = s.pid;
    return out;
  }

  /** Starts every server (in parallel) and lists its tools; a server that fails is a problem, not an error. */
  async listTools(signal?: AbortSignal): Promise<McpListing> {
    const settled = await Promise.all(
      this.#servers.map(async (s) => {
        try {
          return await s.listTools(signal);
        } catch (error) {
          const message = error instanceof Error ? error.message : String(error);
          return { tools: [], skipped: [{ server: s.name, message }] };
        }
      }),
    );
    return { tools: settled.flatMap((r) => r.tools), problems: settled.flatMap((r) => r.skipped) };
  }

  /** The listed tools as tool definitions (validated like plug-in tools, executed on their server). */
  definitions(tools: readonly McpToolInfo[]): ToolDefinition[] {
    return tools.map((info) => {
      const server = this.#servers.find((s) => s.name === info.server)!;
      return {
        name: info.name,
        description: info.description,
        parameters: zodFromJsonSchema(info.inputSchema),
        jsonSchema: info.inputSchema,
        execute: (args, ctx) => server.callTool(info.tool, args as Record<string, unknown>, ctx.signal),
      } satisfies ToolDefinition<Record<string, unknown>>;
    });
  }

  /** Stops every server and waits until they are gone. */
  async close(): Promise<void> {
    await Promise.all(this.#servers.map((s) => s.close()));
  }
}
