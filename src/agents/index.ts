/**
 * marshal/agents: the public API of the agents subsystem. `runHeavy` (decompose, parallel agents,
 * combine) and `runAgent` (one tool-using agent), their typed events, the chat-model port and the
 * OpenAI-compatible provider, the tools API and the marshal.yaml schema.
 */

export type { AgentOutcome, AgentStatus } from './agent-outcome.ts';
export {
  type AgentAnswer,
  COMBINE_STRATEGIES,
  type CombineResult,
  type CombineStrategy,
  combine,
  concatAnswers,
  isCombineStrategy,
} from './combine/index.ts';
export {
  type AgentSettings,
  type LoadedConfig,
  loadMarshalConfig,
  type MarshalConfig,
  marshalConfigSchema,
  resolveSettings,
  type SettingFlags,
} from './config.ts';
export { type DecomposeOptions, type DecomposeResult, decompose, parseSubQuestions } from './decompose.ts';
export { AGENT_ERRORS, type AgentErrorCode } from './errors.ts';
export { type EventSink, emitEvent, type HeavyEvent, type HeavyEventType, type LlmScope } from './events.ts';
export {
  addUsage,
  type ChatMessage,
  type ChatModel,
  type ChatRequest,
  type ChatResponse,
  type RetryInfo,
  type ToolCall,
  type ToolSpec,
  type Usage,
  ZERO_USAGE,
} from './model.ts';
export {
  DEFAULT_PROMPTS,
  fallbackSubQuestions,
  fillTemplate,
  type HeavyPrompts,
  resolvePrompts,
} from './prompts.ts';
export {
  createOpenAICompatibleModel,
  DEFAULT_BASE_URL,
  DEFAULT_MODEL,
  type OpenAICompatibleOptions,
  resolveApiKey,
} from './providers/openai-compatible.ts';
export { type RunAgentOptions, runAgent } from './run-agent.ts';
export {
  type HeavyAgentOverride,
  type HeavyAgentResult,
  type HeavyResult,
  type RunHeavyOptions,
  runHeavy,
} from './run-heavy.ts';
export {
  type BuiltinToolsOptions,
  createBuiltinTools,
  type LoadToolsResult,
  loadToolsDir,
  type SearchOptions,
  type ToolContext,
  type ToolDefinition,
  ToolRegistry,
} from './tools/tool.ts';
export { createTraceSink, type TraceSink } from './trace.ts';
