/**
 * `provider: local`: a GGUF model run in-process by node-llama-cpp. The engine is an optional
 * peer (hundreds of MB with its GPU variants), so it is loaded with a dynamic `import()` only
 * when this provider is chosen; a missing engine is E_LOCAL_ENGINE_MISSING with the install hint.
 *
 * Every reply is grammar-constrained JSON (node-llama-cpp's JSON-schema grammar), so even a weak
 * or random-weight model yields valid structure and always stops:
 * - a request with `responseSchema` (the decomposition) is generated under that schema;
 * - a request with tools gets `{"tool_calls":[{"name":..,"arguments":{..}}]}` or `{"answer":".."}`;
 * - any other request gets `{"answer":".."}`; the answer text becomes the reply's content.
 * Strings are bounded so that the structure fits in the reply's token budget (local-grammar.ts).
 * Calls share one context sequence and take turns: on a CPU they would only slow each other.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { InvalidInputError, MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';
import type { ChatMessage, ChatModel, ChatRequest, ChatResponse, ToolCall, ToolSpec } from '../model.ts';
import {
  type Engine,
  importLocalEngine,
  type Llama,
  type LlamaChatLike,
  type LlamaContextLike,
  type LlamaModelLike,
  type SequenceLike,
} from './local-engine.ts';
import { budgetedSchema, partialAnswer, toolReplySchema } from './local-grammar.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** Where `hf:` / https model URIs are downloaded to and reused from (this variable overrides it). */
export const LOCAL_MODELS_DIR_ENV = 'MARSHAL_MODELS_DIR';

/** The models directory: `$MARSHAL_MODELS_DIR`, else `~/.cache/marshal/models`. */
export function localModelsDir(env: Env): string {
  return env[LOCAL_MODELS_DIR_ENV]?.trim() || join(homedir(), '.cache', 'marshal', 'models');
}

/** Bound on reply tokens when the request sets none. */
const DEFAULT_MAX_TOKENS = 2048;
/** Context window when the model was trained on more (the KV cache grows with it). */
const MAX_CONTEXT = 8192;

/** True for a model URI node-llama-cpp downloads (`hf:user/repo/file.gguf`, `https://...`). */
export function isModelUri(value: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/i.test(value);
}

export interface LocalModelOptions {
  /** A .gguf path (relative to `cwd`) or a model URI (downloaded on first use, only when given). */
  modelFile: string | undefined;
  cwd: string;
  env: Env;
  /** Context size in tokens; default min(the model's training context, 8192). */
  contextSize?: number;
  /** CPU threads for generation; default the engine's (all cores). */
  threads?: number | undefined;
  /** Cancels a model download. */
  signal?: AbortSignal | undefined;
}

/** A local model: the ChatModel port plus `close()` (frees the model and the engine). */
export interface LocalChatModel extends ChatModel {
  close(): Promise<void>;
}

const modelError = (given: string, why: string, cause?: unknown) =>
  new MarshalError(
    AGENT_ERRORS.E_LOCAL_MODEL,
    `provider local: cannot load ${JSON.stringify(given)}: ${why}`,
    {
      ...(cause === undefined ? {} : { cause }),
      details: { modelFile: given },
    },
  );

/**
 * Checks that `path` is a regular file starting with the GGUF magic, before the engine sees it.
 * Opened non-blocking, so a FIFO (or a device) given by mistake cannot block the open.
 */
async function checkGgufFile(path: string, given: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new InvalidInputError('modelFile', given, 'expected an existing .gguf file');
    throw modelError(given, (error as Error).message, error);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw modelError(given, 'not a regular file');
    const head = Buffer.alloc(4);
    const { bytesRead } = await handle.read(head, 0, 4, 0);
    if (bytesRead < 4 || head.toString('latin1') !== 'GGUF') {
      throw modelError(given, `not a GGUF file (it does not start with "GGUF"; ${info.size} bytes)`);
    }
  } finally {
    await handle.close();
  }
}

/**
 * `work`, or the signal's reason as soon as it aborts: node-llama-cpp's downloader does not
 * watch the signal while it retries an unreachable host, so the wait must not depend on it.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Loads the engine and the model. Throws E_INVALID_INPUT (no model file, or it does not exist),
 * E_LOCAL_ENGINE_MISSING, E_LOCAL_MODEL (not a regular GGUF file, or it does not load).
 */
export async function createLocalModel(options: LocalModelOptions): Promise<LocalChatModel> {
  const given = options.modelFile;
  if (given === undefined || given.trim() === '') {
    throw new InvalidInputError(
      'modelFile',
      given ?? null,
      'expected a .gguf file (--model-file, provider.modelFile) for provider local',
    );
  }
  const uri = isModelUri(given);
  const path = uri ? undefined : resolve(options.cwd, given);
  if (path !== undefined) await checkGgufFile(path, given);
  const engine = await importLocalEngine(options.env);
  let llama: Llama | undefined;
  try {
    let modelPath = path;
    if (modelPath === undefined) {
      // Only a URI the user gave is downloaded, once: node-llama-cpp reuses the file in the directory.
      const download = engine.resolveModelFile(given, {
        directory: localModelsDir(options.env),
        cli: false,
        ...(options.signal ? { signal: options.signal } : {}),
      });
      modelPath = await untilAborted(download, options.signal);
      await checkGgufFile(modelPath, given);
    }
    // CPU or whatever prebuilt binary is installed; never build from source (offline, no cmake).
    llama = await engine.getLlama({
      build: 'never',
      progressLogs: false,
      logLevel: 'error',
      logger: () => {},
    });
    const model = await llama.loadModel({ modelPath });
    const contextSize = options.contextSize ?? Math.min(model.trainContextSize || MAX_CONTEXT, MAX_CONTEXT);
    const context = await model.createContext({
      contextSize,
      ...(options.threads === undefined ? {} : { threads: options.threads }),
    });
    const sequence = context.getSequence();
    return new LocalModel(engine, llama, model, context, sequence, given);
  } catch (error) {
    await llama?.dispose().catch(() => {});
    if (options.signal?.aborted) throw options.signal.reason ?? error;
    if (error instanceof MarshalError) throw error;
    const message = (error as Error).message;
    // llama.cpp says only "Failed to load model" for a truncated file or an unknown architecture.
    const why = /^failed to load model$/i.test(message)
      ? `${message} (a truncated file, or an architecture this llama.cpp does not know)`
      : message;
    throw modelError(given, why, error);
  }
}

function toolsPrompt(tools: ToolSpec[]): string {
  const lines = tools.map(
    (t) => `- ${t.name}: ${t.description}\n  arguments (JSON Schema): ${JSON.stringify(t.parameters)}`,
  );
  return [
    'You can call these tools:',
    ...lines,
    'Reply with JSON only: {"tool_calls":[{"name":"TOOL","arguments":{...}}]} to call tools, or {"answer":"..."} with your final answer.',
  ].join('\n');
}

function plainPrompt(): string {
  return 'Reply with JSON only: {"answer":"..."} holding your whole reply.';
}

/** The chat history in node-llama-cpp's form; tool results go back as user turns. */
function history(messages: ChatMessage[], instructions: string): unknown[] {
  const out: unknown[] = [];
  let system = '';
  for (const m of messages) {
    if (m.role === 'system') system += (system ? '\n\n' : '') + m.content;
    else if (m.role === 'user') out.push({ type: 'user', text: m.content });
    else if (m.role === 'tool')
      out.push({ type: 'user', text: `Result of tool ${m.name} (call ${m.toolCallId}):\n${m.content}` });
    else {
      const calls = m.toolCalls ?? [];
      const text =
        calls.length > 0
          ? JSON.stringify({
              tool_calls: calls.map((c) => ({ name: c.name, arguments: safeJson(c.arguments) })),
            })
          : JSON.stringify({ answer: m.content ?? '' });
      out.push({ type: 'model', response: [text] });
    }
  }
  return [{ type: 'system', text: system ? `${system}\n\n${instructions}` : instructions }, ...out];
}

/** Passes on the answer's text as it grows (not the JSON around it; nothing of a tool call). */
function answerStream(onDelta: NonNullable<ChatRequest['onDelta']>): (chunk: string) => void {
  let raw = '';
  let sent = '';
  return (chunk) => {
    raw += chunk;
    const text = partialAnswer(raw);
    if (text === undefined || text.length <= sent.length || !text.startsWith(sent)) return;
    onDelta({ content: text.slice(sent.length) });
    sent = text;
  };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

class LocalModel implements LocalChatModel {
  readonly label: string;
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private calls = 0;

  constructor(
    private readonly engine: Engine,
    private readonly llama: Llama,
    private readonly model: LlamaModelLike,
    private readonly context: LlamaContextLike,
    private readonly sequence: SequenceLike,
    modelFile: string,
  ) {
    this.label = `local ${modelFile}`;
  }

  chat(request: ChatRequest): Promise<ChatResponse> {
    // One context sequence: calls take turns (the CPU is the bound anyway).
    const run = this.queue.then(() => this.generate(request));
    this.queue = run.catch(() => {});
    return run;
  }

  private async generate(request: ChatRequest): Promise<ChatResponse> {
    request.signal?.throwIfAborted();
    if (this.closed) throw this.failure('the model was closed');
    const tools = request.tools ?? [];
    const maxTokens = request.maxTokens ?? DEFAULT_MAX_TOKENS;
    const structured = request.responseSchema !== undefined;
    const schema = structured
      ? budgetedSchema(request.responseSchema!.schema, maxTokens)
      : toolReplySchema(tools, maxTokens);
    const instructions = structured
      ? `Reply with JSON only, matching this JSON Schema: ${JSON.stringify(request.responseSchema!.schema)}`
      : tools.length > 0
        ? toolsPrompt(tools)
        : plainPrompt();
    const chatHistory = history(request.messages, instructions);
    let chat: LlamaChatLike | undefined;
    try {
      const grammar = await this.llama.createGrammarForJsonSchema(schema);
      await this.sequence.clearHistory();
      chat = new this.engine.LlamaChat({ contextSequence: this.sequence, autoDisposeSequence: false });
      const result = await chat.generateResponse(chatHistory, {
        grammar,
        maxTokens,
        ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
        ...(request.signal ? { signal: request.signal } : {}),
        ...(request.onDelta && !structured ? { onTextChunk: answerStream(request.onDelta) } : {}),
      });
      request.signal?.throwIfAborted();
      const promptTokens = this.countTokens(chatHistory);
      const completionTokens = this.model.tokenize(result.response).length;
      const usage = { promptTokens, completionTokens, costUsd: 0 };
      if (result.metadata.stopReason === 'maxTokens') {
        // Cut by the budget: the answer so far, as an endpoint returns a truncated reply (a cut
        // tool call is no answer: nothing).
        const content = structured ? result.response : (partialAnswer(result.response) ?? null);
        return { content, toolCalls: [], finishReason: 'length', usage, model: request.model };
      }
      return {
        ...this.parse(result.response, structured),
        finishReason: 'stop',
        usage,
        model: request.model,
      };
    } catch (error) {
      if (request.signal?.aborted) throw request.signal.reason ?? error;
      if (error instanceof MarshalError) throw error;
      throw this.failure((error as Error).message);
    } finally {
      chat?.dispose();
    }
  }

  private parse(text: string, structured: boolean): Pick<ChatResponse, 'content' | 'toolCalls'> {
    if (structured) return { content: text, toolCalls: [] };
    const value = safeJson(text) as { answer?: unknown; tool_calls?: unknown } | string;
    if (typeof value === 'object' && value !== null && Array.isArray(value.tool_calls)) {
      const toolCalls: ToolCall[] = value.tool_calls.map((c: { name?: unknown; arguments?: unknown }) => ({
        id: `call_${++this.calls}`,
        name: String(c.name ?? ''),
        arguments: JSON.stringify(c.arguments ?? {}),
      }));
      return { content: null, toolCalls };
    }
    if (typeof value === 'object' && value !== null && typeof value.answer === 'string') {
      return { content: value.answer, toolCalls: [] };
    }
    return { content: text, toolCalls: [] };
  }

  private countTokens(chatHistory: unknown[]): number {
    let n = 0;
    for (const item of chatHistory as Array<{ text?: string; response?: string[] }>) {
      n += this.model.tokenize(item.text ?? item.response?.join('') ?? '').length;
    }
    return n;
  }

  private failure(message: string): MarshalError {
    return new MarshalError(AGENT_ERRORS.E_LOCAL_MODEL, `provider local: ${message}`);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    await this.context.dispose().catch(() => {});
    await this.model.dispose().catch(() => {});
    await this.llama.dispose().catch(() => {});
  }
}
