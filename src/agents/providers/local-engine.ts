/**
 * Loading node-llama-cpp, the engine of `provider: local`. It is an optional peer dependency
 * (its GPU variants weigh hundreds of MB), so it is imported with a dynamic `import()` only when
 * that provider is chosen, and a missing engine is E_LOCAL_ENGINE_MISSING naming the npm command.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MarshalError } from '../../core/errors.ts';
import { AGENT_ERRORS } from '../errors.ts';

type Env = Readonly<Record<string, string | undefined>>;

/** The engine's npm package. */
export const LOCAL_ENGINE_PACKAGE = 'node-llama-cpp';
/**
 * Names another place for the engine: a directory it is installed under (an npm `--prefix`
 * holding `node_modules/node-llama-cpp`), a module file, or a package specifier.
 */
export const LOCAL_ENGINE_ENV = 'MARSHAL_NODE_LLAMA_CPP';

export const LOCAL_ENGINE_INSTALL_HINT =
  'install the engine next to marshal: `npm install node-llama-cpp@3` (or `npm install -g node-llama-cpp@3` for a global marshal)';

/** The part of node-llama-cpp the local provider uses (typed loosely: the engine is optional). */
export interface Engine {
  getLlama(options: Record<string, unknown>): Promise<Llama>;
  resolveModelFile(uri: string, options: Record<string, unknown>): Promise<string>;
  LlamaChat: new (options: Record<string, unknown>) => LlamaChatLike;
}
export interface Llama {
  loadModel(options: Record<string, unknown>): Promise<LlamaModelLike>;
  createGrammarForJsonSchema(schema: Record<string, unknown>): Promise<unknown>;
  dispose(): Promise<void>;
}
export interface LlamaModelLike {
  trainContextSize: number;
  createContext(options: Record<string, unknown>): Promise<LlamaContextLike>;
  tokenize(text: string): unknown[];
  dispose(): Promise<void>;
}
export interface LlamaContextLike {
  contextSize: number;
  getSequence(): SequenceLike;
  dispose(): Promise<void>;
}
export interface SequenceLike {
  clearHistory(): Promise<void>;
}
export interface LlamaChatLike {
  generateResponse(
    history: unknown[],
    options: Record<string, unknown>,
  ): Promise<{ response: string; metadata: { stopReason: string } }>;
  dispose(): void;
}

/** What `import()` is given for the engine: `MARSHAL_NODE_LLAMA_CPP` resolved, or the package name. */
function engineSpecifier(named: string | undefined): string {
  if (named === undefined) return LOCAL_ENGINE_PACKAGE;
  if (!isAbsolute(named)) return named;
  let dir = false;
  try {
    dir = statSync(named).isDirectory();
  } catch {
    // A missing path fails in import() below with ERR_MODULE_NOT_FOUND.
  }
  // Resolved as a require() from inside the directory would be (node_modules there and above).
  return pathToFileURL(dir ? createRequire(join(named, 'noop.js')).resolve(LOCAL_ENGINE_PACKAGE) : named)
    .href;
}

/** Imports the engine. Throws E_LOCAL_ENGINE_MISSING (not installed, or it does not load). */
export async function importLocalEngine(env: Env): Promise<Engine> {
  const named = env[LOCAL_ENGINE_ENV]?.trim() || undefined;
  const where = named === undefined ? `import "${LOCAL_ENGINE_PACKAGE}"` : `${LOCAL_ENGINE_ENV}=${named}`;
  try {
    const engine = (await import(engineSpecifier(named))) as Partial<Engine>;
    if (typeof engine.getLlama !== 'function' || typeof engine.LlamaChat !== 'function') {
      throw new Error('the module does not export getLlama and LlamaChat');
    }
    return engine as Engine;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const missing = code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND';
    throw new MarshalError(
      AGENT_ERRORS.E_LOCAL_ENGINE_MISSING,
      missing
        ? `provider local needs the node-llama-cpp engine, which is not installed (${where} failed): ${LOCAL_ENGINE_INSTALL_HINT}`
        : `provider local: the node-llama-cpp engine did not load (${where}): ${(error as Error).message}; ${LOCAL_ENGINE_INSTALL_HINT}`,
      { cause: error, details: { module: named ?? LOCAL_ENGINE_PACKAGE } },
    );
  }
}
