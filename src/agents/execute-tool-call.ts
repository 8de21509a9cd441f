/**
 * Executes one tool call the model asked for. Bad JSON, schema violations, unknown tools, tool
 * failures and timeouts all come back as a `tool` message describing the problem (so the model can
 * correct itself); nothing here throws.
 */
import type { z } from 'zod';
import { deadline } from '../core/deadline.ts';
import { type EventSink, emitEvent } from './events.ts';
import type { ToolCall } from './model.ts';
import type { ToolRegistry } from './tools/tool-registry.ts';

/** The built-in completion signal. */
export const MARK_TASK_COMPLETE = 'mark_task_complete';

export interface ToolCallResult {
  ok: boolean;
  /** What goes back to the model (bounded). */
  content: string;
  /** For a valid mark_task_complete call: its `completion_message`. */
  completionMessage?: string;
}

export interface ExecuteToolCallOptions {
  agentId: string;
  tools: ToolRegistry;
  signal: AbortSignal;
  workspace: string;
  timeoutMs: number;
  maxOutputChars: number;
  onEvent?: EventSink | undefined;
}

/** Cuts `text` to `max` characters with a note saying how much was dropped. */
export function truncateOutput(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}\n[output truncated: ${text.length - max} of ${text.length} characters omitted]`;
}

/** Readable zod issues: `field: message; other: message`. */
export function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 10)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : '(arguments)'}: ${i.message}`)
    .join('; ');
}

function errorContent(message: string): string {
  return JSON.stringify({ error: message, success: false });
}

/** Validates and runs `call`; see the module comment. */
export async function executeToolCall(
  call: ToolCall,
  options: ExecuteToolCallOptions,
): Promise<ToolCallResult> {
  const { agentId, tools, onEvent } = options;
  const started = Date.now();
  emitEvent(onEvent, { type: 'tool_call', agentId, name: call.name, arguments: call.arguments });
  const done = (result: ToolCallResult, error?: string): ToolCallResult => {
    const content = truncateOutput(result.content, options.maxOutputChars);
    emitEvent(onEvent, {
      type: 'tool_result',
      agentId,
      name: call.name,
      ok: result.ok,
      ...(error !== undefined ? { error } : {}),
      durationMs: Date.now() - started,
      content,
    });
    return { ...result, content };
  };
  const fail = (message: string): ToolCallResult =>
    done({ ok: false, content: errorContent(message) }, message);

  const tool = tools.get(call.name);
  if (!tool)
    return fail(`Unknown tool: ${call.name}. Available tools: ${tools.names().join(', ') || '(none)'}`);

  let raw: unknown;
  try {
    raw = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
  } catch (error) {
    return fail(`Invalid arguments for ${call.name}: not valid JSON (${(error as Error).message})`);
  }
  const parsed = tool.parameters.safeParse(raw);
  if (!parsed.success) return fail(`Invalid arguments for ${call.name}: ${formatIssues(parsed.error)}`);

  // A ref'd, strongly held timer (core/deadline.ts) keeps the process alive while a tool that
  // ignores its signal is pending, so the bound always fires.
  const toolDeadline = deadline(options.timeoutMs, [options.signal], `tool ${call.name}`);
  const signal = toolDeadline.signal;
  try {
    const output: unknown = await raceAbort(
      tool.execute(parsed.data, { signal, workspace: options.workspace }),
      signal,
    );
    // Plug-in tools may return objects despite the contract; the model still gets text.
    const content = typeof output === 'string' ? output : (JSON.stringify(output) ?? String(output));
    const result: ToolCallResult = { ok: true, content };
    if (call.name === MARK_TASK_COMPLETE) {
      const message = (parsed.data as { completion_message?: unknown }).completion_message;
      if (typeof message === 'string' && message.trim() !== '') result.completionMessage = message;
    }
    return done(result);
  } catch (error) {
    if (options.signal.aborted) return fail(`${call.name} was interrupted`);
    if (signal.aborted)
      return fail(`Tool execution failed: ${call.name} did not finish within ${options.timeoutMs} ms`);
    const message = error instanceof Error ? error.message : String(error);
    return fail(`Tool execution failed: ${withoutWorkspace(message, options.workspace)}`);
  } finally {
    toolDeadline.clear();
  }
}

/**
 * A tool's error message with the workspace's absolute path replaced by workspace-relative names:
 * the model never learns where the workspace is on this machine (plug-in tools may leak it).
 */
export function withoutWorkspace(message: string, workspace: string): string {
  const root = workspace.replace(/\/+$/, '');
  if (root === '') return message;
  return message.replaceAll(`${root}/`, '').replaceAll(root, '.');
}

/** Settles with `promise`, or rejects as soon as `signal` aborts (a tool that ignores its signal cannot hold the agent). */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}

/** Tool calls of one assistant message run at once, at most this many in flight by default. */
export const DEFAULT_TOOL_CONCURRENCY = 4;

/**
 * Runs the tool calls of one assistant message concurrently, at most `limit` at a time (models
 * send several independent calls in one message); results come back in the calls' order.
 */
export async function executeToolCalls(
  calls: readonly ToolCall[],
  options: ExecuteToolCallOptions,
  limit: number = DEFAULT_TOOL_CONCURRENCY,
): Promise<ToolCallResult[]> {
  const results = new Array<ToolCallResult>(calls.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < calls.length) {
      const i = next++;
      results[i] = await executeToolCall(calls[i]!, options);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, calls.length)) }, worker));
  return results;
}
