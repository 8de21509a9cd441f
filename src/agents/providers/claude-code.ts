/**
 * The Claude Code CLI as a chat model (`provider: claude-code`, as in the Make It Heavy fork). One
 * `chat()` is one `claude -p` run, which does its own agentic loop: marshal's tools reach it over
 * MCP (`marshal mcp serve`, written into a temporary `--mcp-config` with the matching
 * `--allowedTools mcp__marshal__NAME`), never through a shell bridge. Its built-in tools are off
 * (`--tools ""`) and only that config counts (`--strict-mcp-config`: `--tools ""` alone leaves
 * the user's own MCP servers mounted), so it can touch only what marshal's tools allow.
 *
 * The run is argv only (the prompt goes on stdin, so a question starting with "-" is never read
 * as a flag), in its own process group, under a deadline, stopped (SIGTERM, grace, SIGKILL to the
 * group) on abort. Its stdout is stream-json, one event per line: `system`/`init` (model),
 * `assistant` (content blocks: text, tool_use), `user` (tool results) and the final `result`
 * (`result`, `is_error`, `subtype`, `total_cost_usd`, `usage`).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { abortedErrorFrom } from '../../core/async.ts';
import { deadline } from '../../core/deadline.ts';
import { MarshalError, TimeoutError } from '../../core/errors.ts';
import { findProgram } from '../../core/find-program.ts';
import { spawnProcess } from '../../core/process.ts';
import { AGENT_ERRORS } from '../errors.ts';
import type { ChatModel, ChatRequest, ChatResponse } from '../model.ts';

type Env = Readonly<Record<string, string | undefined>>;

export const CLAUDE_INSTALL_HINT =
  'install Claude Code: npm install -g @anthropic-ai/claude-code (or set provider.claudeBinary)';
/** The MCP server name marshal's tools get inside Claude Code (`mcp__marshal__read_file`). */
export const CLAUDE_MCP_SERVER = 'marshal';
const STDERR_LINES = 20;

/** How Claude Code starts marshal's MCP server (`marshal mcp serve ...`). */
export interface McpServeCommand {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

export interface ClaudeCodeModelOptions {
  /** The executable (PATH searched); default `claude`. */
  binary?: string | undefined;
  env: Env;
  /** Working directory of `claude` (the workspace). */
  cwd: string;
  /** `--max-turns`. */
  maxTurns: number;
  /** Bound on each run; default 10 minutes. */
  timeoutMs?: number | undefined;
  /** Tools that `serve` offers; a request's other tools are not passed on. */
  servedTools: ReadonlySet<string>;
  /** How to start marshal's MCP server for a run that offers tools; without it no tools are given. */
  serve?: McpServeCommand | undefined;
}

/** Resolves the executable or throws E_CLAUDE_CODE_MISSING (exit 2) with the install hint. */
export function findClaudeBinary(binary: string | undefined, cwd: string, env: Env): string {
  const name = binary ?? 'claude';
  const found = findProgram(name, cwd, env);
  if (found.ok) return found.path;
  throw new MarshalError(
    AGENT_ERRORS.E_CLAUDE_CODE_MISSING,
    `provider claude-code: ${JSON.stringify(name)} ${found.code === 'ENOENT' ? 'was not found' : 'is not executable'}`,
    { hint: CLAUDE_INSTALL_HINT, details: { program: name, errno: found.code } },
  );
}

/** The prompt of one run: the conversation after the system message, as text. */
export function claudePrompt(request: ChatRequest): string {
  const turns = request.messages.filter((m) => m.role !== 'system');
  const text =
    turns.length === 1 && turns[0]!.role === 'user'
      ? turns[0]!.content
      : turns
          .map((m) => {
            if (m.role === 'user') return `User: ${m.content}`;
            if (m.role === 'assistant') return `Assistant: ${m.content ?? ''}`;
            if (m.role === 'tool') return `Tool ${m.name}: ${m.content}`;
            return '';
          })
          .join('\n\n');
  if (!request.responseSchema) return text;
  return `${text}\n\nReply with only a JSON object matching this JSON Schema, no other text:\n${JSON.stringify(request.responseSchema.schema)}`;
}

/** What one stream-json run produced. */
interface StreamState {
  model?: string;
  texts: string[];
  toolUses: number;
  result?: Record<string, unknown>;
}

function onEvent(state: StreamState, line: string): void {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return;
  let event: Record<string, unknown>;
  try {
    event = JSON.parse(trimmed) as Record<string, unknown>;
  } catch {
    return;
  }
  if (event.type === 'system' && event.subtype === 'init' && typeof event.model === 'string')
    state.model = event.model;
  if (event.type === 'assistant') {
    const message = (event.message ?? {}) as Record<string, unknown>;
    const blocks = Array.isArray(message.content) ? (message.content as Array<Record<string, unknown>>) : [];
    const text = blocks
      .filter((b) => b.type === 'text' && typeof b.text === 'string')
      .map((b) => b.text as string)
      .join('');
    if (text !== '') state.texts.push(text);
    state.toolUses += blocks.filter((b) => b.type === 'tool_use').length;
  }
  if (event.type === 'result') state.result = event;
}

const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** Creates the Claude Code model. Throws E_CLAUDE_CODE_MISSING at once when the binary is missing. */
export function createClaudeCodeModel(options: ClaudeCodeModelOptions): ChatModel {
  const binary = findClaudeBinary(options.binary, options.cwd, options.env);
  const timeoutMs = options.timeoutMs ?? 600_000;
  return {
    label: `claude-code ${binary}`,
    async chat(request: ChatRequest): Promise<ChatResponse> {
      if (request.signal?.aborted) throw abortedErrorFrom(request.signal);
      const system = request.messages.find((m) => m.role === 'system')?.content;
      const tools = (request.tools ?? []).map((t) => t.name).filter((n) => options.servedTools.has(n));
      const argv = [
        binary,
        '-p',
        '--output-format',
        'stream-json',
        '--verbose',
        '--model',
        request.model,
        '--max-turns',
        String(options.maxTurns),
        ...(system === undefined ? [] : ['--system-prompt', system]),
        '--tools',
        '',
        '--strict-mcp-config',
      ];
      let dir: string | undefined;
      try {
        if (tools.length > 0 && options.serve) {
          dir = await mkdtemp(join(tmpdir(), 'marshal-claude-'));
          const config = join(dir, 'mcp-config.json');
          const server = { type: 'stdio', ...options.serve };
          await writeFile(config, JSON.stringify({ mcpServers: { [CLAUDE_MCP_SERVER]: server } }, null, 2), {
            mode: 0o600,
          });
          argv.push(
            '--mcp-config',
            config,
            '--allowedTools',
            tools.map((n) => `mcp__${CLAUDE_MCP_SERVER}__${n}`).join(','),
          );
        }
        return await runClaude(argv, request, options, timeoutMs);
      } finally {
        if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

async function runClaude(
  argv: string[],
  request: ChatRequest,
  options: ClaudeCodeModelOptions,
  timeoutMs: number,
): Promise<ChatResponse> {
  const state: StreamState = { texts: [], toolUses: 0 };
  const stderr: string[] = [];
  const bound = deadline(timeoutMs, [request.signal], 'claude');
  const env: Record<string, string | undefined> = { ...options.env };
  // Started from inside a Claude Code session, the child must not think it is nested.
  delete env.CLAUDECODE;
  const proc = spawnProcess(argv, {
    cwd: options.cwd,
    env,
    stdin: 'pipe',
    pdeathsig: true,
    maxLineLength: 16 * 1024 * 1024,
    onStdoutLine: (line) => onEvent(state, line),
    onStderrLine: (line) => {
      stderr.push(line);
      if (stderr.length > STDERR_LINES) stderr.shift();
    },
  });
  const stopOnAbort = () => void proc.stop({ graceMs: 2000 });
  bound.signal.addEventListener('abort', stopOnAbort, { once: true });
  try {
    proc.stdin?.on('error', () => {});
    proc.stdin?.end(claudePrompt(request));
    const exit = await proc.exited;
    if (bound.signal.aborted) {
      if (bound.expired) throw new TimeoutError(`claude did not finish within ${timeoutMs / 1000} s`);
      throw abortedErrorFrom(bound.signal);
    }
    await proc.stop({ graceMs: 500 }); // reap whatever it left in its group
    const result = state.result;
    const last = stderr.at(-1);
    const why = exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`;
    if (!result) {
      throw new MarshalError(
        AGENT_ERRORS.E_CLAUDE_CODE,
        `claude exited (${why}) without a result event${last ? `: ${last.slice(0, 300)}` : ''}`,
        {
          details: { exitCode: exit.code, signal: exit.signal },
        },
      );
    }
    const usage = (result.usage ?? {}) as Record<string, unknown>;
    const answer = typeof result.result === 'string' ? result.result : (state.texts.at(-1) ?? null);
    const response: ChatResponse = {
      content: answer,
      toolCalls: [],
      finishReason: 'stop',
      usage: {
        promptTokens:
          num(usage.input_tokens) +
          num(usage.cache_creation_input_tokens) +
          num(usage.cache_read_input_tokens),
        completionTokens: num(usage.output_tokens),
        costUsd: typeof result.total_cost_usd === 'number' ? result.total_cost_usd : null,
      },
      ...(state.model === undefined ? {} : { model: state.model }),
    };
    if (result.is_error === true) {
      // Out of turns with text so far: a truncated answer, not a failure.
      if (result.subtype === 'error_max_turns' && state.texts.length > 0) {
        return { ...response, content: state.texts.join('\n\n'), finishReason: 'length' };
      }
      const message =
        typeof result.result === 'string' && result.result !== ''
          ? result.result
          : String(result.subtype ?? 'error');
      throw new MarshalError(
        AGENT_ERRORS.E_CLAUDE_CODE,
        `claude reported an error (${String(result.subtype ?? 'is_error')}): ${message.slice(0, 500)}`,
        {
          details: { subtype: result.subtype ?? null, costUsd: response.usage.costUsd },
        },
      );
    }
    return response;
  } finally {
    bound.signal.removeEventListener('abort', stopOnAbort);
    bound.clear();
    await proc.stop({ graceMs: 2000 });
  }
}
