/**
 * marshal-kit/agents: the public API of the agents subsystem. `runHeavy` (decompose, parallel agents,
 * combine) and `runAgent` (one tool-using agent), their typed events, the chat-model port and the
 * OpenAI-compatible provider, the tools API and the marshal.yaml schema.
 */

export { type AgentOutcome, type AgentStatus, answerKind } from './agent-outcome.ts';
export { type BudgetOptions, type BudgetStop, RunBudget } from './budget.ts';
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
  type ConfigTrust,
  type LoadedConfig,
  loadMarshalConfig,
  MAX_CONFIG_BYTES,
} from './config.ts';
export {
  configTrustStorePath,
  listTrustedConfigs,
  type TrustedConfig,
  trustConfigFile,
  untrustConfigFile,
} from './config-trust.ts';
export { type DecomposeOptions, type DecomposeResult, decompose, parseSubQuestions } from './decompose.ts';
export { AGENT_ERRORS, type AgentErrorCode } from './errors.ts';
export {
  deltaEmitter,
  type EventSink,
  emitEvent,
  type HeavyEvent,
  type HeavyEventType,
  type LlmScope,
} from './events.ts';
export { type FailFast, failFast } from './fail-fast.ts';
export {
  type AskOutcome,
  type JobOptions,
  type LoadedAgentSettings,
  loadAgentSettings,
  noAnswerError,
  runAskFromSettings,
  runHeavyFromSettings,
} from './jobs.ts';
export {
  type MarshalConfig,
  type McpServerConfig,
  marshalConfigSchema,
  type ProviderKind,
} from './marshal-config.ts';
export { NOT_SERVED, type ServeMcpOptions, serveToolsOverMcp } from './mcp/mcp-serve.ts';
export {
  type McpListing,
  type McpToolInfo,
  McpToolSource,
  resultText as mcpResultText,
} from './mcp/mcp-tools.ts';
export {
  addUsage,
  type ChatDelta,
  type ChatMessage,
  type ChatModel,
  type ChatRequest,
  type ChatResponse,
  type ReasoningEffort,
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
export { DEFAULT_BASE_URL, DEFAULT_MODEL, isOpenRouter, resolveApiKey } from './providers/api-key.ts';
export {
  CLAUDE_INSTALL_HINT,
  type ClaudeCodeModelOptions,
  claudePrompt,
  createClaudeCodeModel,
  findClaudeBinary,
} from './providers/claude-code.ts';
export { createOpenAICompatibleModel, type OpenAICompatibleOptions } from './providers/openai-compatible.ts';
export { redactUrl, urlSecrets } from './providers/url-credentials.ts';
export {
  type AgentSettings,
  checkWorkspace,
  resolveSettings,
  type SettingFlags,
} from './resolve-settings.ts';
export { type RunAgentOptions, runAgent } from './run-agent.ts';
export {
  combineInputs,
  DECOMPOSE_TIMEOUT_FLOOR_MS,
  DECOMPOSE_TIMEOUT_SHARE,
  type HeavyAgentOverride,
  type HeavyAgentResult,
  type HeavyResult,
  type RunHeavyOptions,
  runHeavy,
} from './run-heavy.ts';
export {
  type AgentRuntime,
  type AgentRuntimeOptions,
  createAgentRuntime,
  createToolSet,
  MARSHAL_BIN,
  mcpServeCommand,
  type ToolSet,
} from './runtime.ts';
export {
  parseChatRequest,
  questionFromMessages,
  SERVE_MODELS,
  type ServeChatRequest,
  type ServeModel,
} from './serve/chat-request.ts';
export {
  bearerMatches,
  DEFAULT_MAX_CONCURRENT_RUNS,
  MAX_SERVE_BODY_BYTES,
  type MarshalServer,
  type ServeOptions,
  type ServeRunner,
  startServe,
} from './serve/serve.ts';
export { settingsRunner } from './serve/settings-runner.ts';
export {
  checkSetting,
  isHttpUrl,
  PROVIDER_KINDS,
  SETTINGS,
  type SettingName,
  type SettingSpec,
  settingBounds,
  settingDefaultText,
  settingExpectation,
  settingHelp,
  URL_SCHEMES,
} from './settings.ts';
export { stripThink } from './strip-think.ts';
export { type BuiltinToolsOptions, createBuiltinTools } from './tools/builtin-tools.ts';
export { type LoadToolsResult, loadToolsDir } from './tools/load-tools-dir.ts';
export type { SearchOptions } from './tools/search-web.ts';
export type { ToolContext, ToolDefinition } from './tools/tool.ts';
export { ToolRegistry } from './tools/tool-registry.ts';
export { createTraceSink, type TraceSink } from './trace.ts';
