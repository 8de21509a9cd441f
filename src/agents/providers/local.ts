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
 * Strings are bounded (maxLength) so that generation ends even when the model never would.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidInputError, MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';
import type { ChatMessage, ChatModel, ChatRequest, ChatResponse, ToolCall, ToolSpec } from '../model.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The engine's npm package, and the environment variable that may name another module for it. */
export const LOCAL_ENGINE_PACKAGE = 'node-llama-cpp';
export const LOCAL_ENGINE_ENV = 'MARSHAL_NODE_LLAMA_CPP';
/** Where `hf:` / https model URIs are downloaded (MARSHAL_MODELS_DIR overrides it). */
export const LOCAL_MODELS_DIR_ENV = 'MARSHAL_MODELS_DIR';

export const LOCAL_ENGINE_INSTALL_HINT =
  'install the engine next to marshal: `npm install node-llama-cpp@3` (or `npm install -g node-llama-cpp@3` for a global marshal)';

/** Longest string the grammar lets the model write in one field, in characters. */
const DEFAULT_MAX_STRING = 4000;
/** Bound on reply tokens when the request sets none. */
const DEFAULT_MAX_TOKENS = 2048;

/** The part of node-llama-cpp this provider uses (typed loosely: the engine is optional). */
interface Engine {
  getLlama(options: Record<string, unknown>): Promise<Llama>;
  resolveModelFile(uri: string, options: Record<string, unknown>): Promise<string>;
  LlamaChat: new (options: Record<string, unknown>) => LlamaChatLike;
}
interface Llama {
  loadModel(options: Record<string, unknown>): Promise<LlamaModelLike>;
  createGrammarForJsonSchema(schema: Record<string, unknown>): Promise<unknown>;
  dispose(): Promise<void>;
}
interface LlamaModelLike {
  trainContextSize: number;
  createContext(options: Record<string, unknown>): Promise<LlamaContextLike>;
  tokenize(text: string): unknown[];
  dispose(): Promise<void>;
}
interface LlamaContextLike {
  contextSize: number;
  getSequence(): SequenceLike;
  dispose(): Promise<void>;
}
interface SequenceLike {
  clearHistory(): Promise<void>;
}
interface LlamaChatLike {
  generateResponse(
    history: unknown[],
    options: Record<string, unknown>,
  ): Promise<{ response: string; metadata: { stopReason: string } }>;
  dispose(): void;
}

/** Imports the engine (`MARSHAL_NODE_LLAMA_CPP` may name another specifier or an absolute file). Throws E_LOCAL_ENGINE_MISSING. */
export async function importLocalEngine(env: Env): Promise<Engine> {
  const named = env[LOCAL_ENGINE_ENV]?.trim();
  const specifier = named ? (isAbsolute(named) ? pathToFileURL(named).href : named) : LOCAL_ENGINE_PACKAGE;
  try {
    return (await import(specifier)) as Engine;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    throw new MarshalError(
      AGENT_ERRORS.E_LOCAL_ENGINE_MISSING,
      missing
        ? `provider local needs the node-llama-cpp engine, which is not installed (${named ? `${LOCAL_ENGINE_ENV}=${named}` : 'import "node-llama-cpp"'} failed): ${LOCAL_ENGINE_INSTALL_HINT}`
        : `provider local: the node-llama-cpp engine failed to load: ${(error as Error).message}; ${LOCAL_ENGINE_INSTALL_HINT}`,
      { cause: error, details: { module: named ?? LOCAL_ENGINE_PACKAGE } },
    );
  }
}

/** True for a model URI node-llama-cpp downloads (`hf:user/repo/file.gguf`, `https://...`). */
export function isModelUri(value: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/i.test(value);
}

export interface LocalModelOptions {
  /** A .gguf path (relative to `cwd`) or a model URI (fetched on first use, only when given). */
  modelFile: string | undefined;
  cwd: string;
  env: Env;
  /** Context size in tokens; default min(the model's training context, 8192). */
  contextSize?: number;
}

/** A local model: the ChatModel port plus `close()` (frees the model and the engine). */
export interface LocalChatModel extends ChatModel {
  close(): Promise<void>;
}

/**
 * Loads the engine and the model. Throws E_INVALID_INPUT (no or missing model file),
 * E_LOCAL_ENGINE_MISSING, E_LOCAL_MODEL (the file does not load).
 */
export async function createLocalModel(options: LocalModelOptions): Promise<LocalChatModel> {
  const given = options.modelFile;
  if (given === undefined || given.trim() === '') {
    throw new InvalidInputError(
      'modelFile',
      given ?? null,
      'expected a .gguf file (--model-file) for provider local',
    );
  }
  const uri = isModelUri(given);
  const path = uri ? undefined : resolve(options.cwd, given);
  if (path !== undefined && !(existsSync(path) && statSync(path).isFile())) {
    throw new InvalidInputError('modelFile', given, 'expected an existing .gguf file');
  }
  const engine = await importLocalEngine(options.env);
  let llama: Llama | undefined;
  try {
    const modelPath =
      path ??
      (await engine.resolveModelFile(given, {
        directory: options.env[LOCAL_MODELS_DIR_ENV] ?? join(homedir(), '.cache', 'marshal', 'models'),
        cli: false,
      }));
    // CPU or whatever prebuilt binary is installed; never build from source (offline, no cmake).
    llama = await engine.getLlama({
      build: 'never',
      progressLogs: false,
      logLevel: 'error',
      logger: () => {},
    });
    const model = await llama.loadModel({ modelPath });
    const contextSize = options.contextSize ?? Math.min(model.trainContextSize || 8192, 8192);
    const context = await model.createContext({ contextSize });
    const sequence = context.getSequence();
    return new LocalModel(engine, llama, model, context, sequence, given);
  } catch (error) {
    await llama?.dispose().catch(() => {});
    if (error instanceof MarshalError) throw error;
    throw new MarshalError(
      AGENT_ERRORS.E_LOCAL_MODEL,
      `provider local: cannot load ${JSON.stringify(given)}: ${(error as Error).message}`,
      { cause: error, details: { modelFile: given } },
    );
  }
}

/** A JSON Schema reduced to what the GBNF grammar supports, strings bounded. */
export function grammarSchema(schema: unknown, maxString = DEFAULT_MAX_STRING): Record<string, unknown> {
  if (schema === null || typeof schema !== 'object') return { type: 'string', maxLength: maxString };
  const s = schema as Record<string, unknown>;
  if (Array.isArray(s.enum)) return { enum: s.enum };
  if ('const' in s) return { const: s.const };
  const alternatives = (s.oneOf ?? s.anyOf) as unknown[] | undefined;
  if (Array.isArray(alternatives)) return { oneOf: alternatives.map((a) => grammarSchema(a, maxString)) };
  const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
  switch (type) {
    case 'string':
      return {
        type: 'string',
        ...(typeof s.minLength === 'number' ? { minLength: s.minLength } : {}),
        maxLength: Math.min(typeof s.maxLength === 'number' ? s.maxLength : maxString, maxString),
      };
    case 'number':
    case 'integer':
    case 'boolean':
    case 'null':
      return { type };
    case 'array':
      return {
        type: 'array',
        items: grammarSchema(s.items ?? { type: 'string' }, maxString),
        ...(typeof s.minItems === 'number' ? { minItems: s.minItems } : {}),
        maxItems: typeof s.maxItems === 'number' ? s.maxItems : 16,
      };
    default: {
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : Object.keys(props));
      // The grammar writes every property it lists: keep the required ones (optional ones are left out).
      const properties: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(props))
        if (required.has(k)) properties[k] = grammarSchema(v, maxString);
      return { type: 'object', properties };
    }
  }
}

/** The reply schema of a chat with tools: calls of the offered tools, or a final answer. */
export function toolReplySchema(tools: ToolSpec[], maxString = DEFAULT_MAX_STRING): Record<string, unknown> {
  const answer = { type: 'object', properties: { answer: { type: 'string', maxLength: maxString } } };
  if (tools.length === 0) return answer;
  const call = (t: ToolSpec) => ({
    type: 'object',
    properties: { name: { const: t.name }, arguments: grammarSchema(t.parameters, maxString) },
  });
  return {
    oneOf: [
      {
        type: 'object',
        properties: {
          tool_calls: {
            type: 'array',
            items: tools.length === 1 ? call(tools[0]!) : { oneOf: tools.map(call) },
            minItems: 1,
            maxItems: 4,
          },
        },
      },
      answer,
    ],
  };
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
    const maxString = Math.max(16, Math.min(DEFAULT_MAX_STRING, maxTokens * 2));
    const structured = request.responseSchema !== undefined;
    const schema = structured
      ? grammarSchema(request.responseSchema!.schema, maxString)
      : toolReplySchema(tools, maxString);
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
        ...(request.onDelta ? { onTextChunk: (text: string) => request.onDelta?.({ content: text }) } : {}),
      });
      request.signal?.throwIfAborted();
      const promptTokens = this.countTokens(chatHistory);
      const completionTokens = this.model.tokenize(result.response).length;
      const usage = { promptTokens, completionTokens, costUsd: 0 };
      const stop = result.metadata.stopReason;
      if (stop === 'maxTokens') {
        return {
          content: result.response,
          toolCalls: [],
          finishReason: 'length',
          usage,
          model: request.model,
        };
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
