/** Error codes of the agents subsystem: a typed table, each entry carrying its CLI exit code. */
import { defineErrors, ExitCode } from '../core/errors.ts';

/** Code -> exit code and meaning; ARCHITECTURE.md documents this table. */
export const AGENT_ERRORS = defineErrors({
  E_MISSING_API_KEY: {
    exit: ExitCode.usage,
    meaning: 'no API key in the environment for the configured endpoint (OPENROUTER_API_KEY for OpenRouter)',
  },
  E_LLM_HTTP: {
    exit: ExitCode.failure,
    meaning: 'the chat endpoint answered with an HTTP error (4xx, or 429/5xx after all retries)',
  },
  E_LLM_NETWORK: {
    exit: ExitCode.failure,
    meaning: 'the chat endpoint could not be reached (after all retries)',
  },
  E_LLM_RESPONSE: {
    exit: ExitCode.failure,
    meaning: 'the chat endpoint returned a body that is not a valid completion',
  },
  E_LLM_REFUSED: {
    exit: ExitCode.usage,
    meaning:
      'the endpoint refused the key (401/403), the model (400/404 naming it) or the account (402): the run ends after the first such reply',
  },
  E_LLM_EMPTY: {
    exit: ExitCode.noAnswer,
    meaning: 'the model returned neither text nor tool calls (or only reasoning, twice)',
  },
  E_LLM_TRUNCATED: {
    exit: ExitCode.noAnswer,
    meaning:
      'the reply hit the token limit (finish_reason length); the partial text is kept, status truncated',
  },
  E_LLM_CONTENT_FILTER: {
    exit: ExitCode.noAnswer,
    meaning: "the provider's content filter stopped the reply (finish_reason content_filter)",
  },
  E_MAX_ITERATIONS: {
    exit: ExitCode.noAnswer,
    meaning: 'an agent used all its iterations without a final answer (partial text kept)',
  },
  E_TOOL_DEFINITION: {
    exit: ExitCode.usage,
    meaning: 'a tool definition is invalid or its name is taken twice',
  },
  E_TOOLS_DIR: { exit: ExitCode.usage, meaning: 'the tools directory is missing or unreadable' },
  E_NO_ANSWER: { exit: ExitCode.noAnswer, meaning: 'no agent produced an answer' },
  E_TOOL: {
    exit: ExitCode.failure,
    meaning: 'a tool failed (reported to the model, not fatal to the agent)',
  },
  E_MCP_SERVER: {
    exit: ExitCode.failure,
    meaning:
      'an MCP server did not start, list its tools or answer, or died (its calls come back to the model as tool errors)',
  },
  E_CLAUDE_CODE_MISSING: {
    exit: ExitCode.usage,
    meaning:
      'provider claude-code: the `claude` executable was not found (install: npm install -g @anthropic-ai/claude-code)',
  },
  E_SERVE_LISTEN: {
    exit: ExitCode.failure,
    meaning: 'marshal serve: cannot listen on the host and port (taken, not a local address, no permission)',
  },
  E_LOCAL_ENGINE_MISSING: {
    exit: ExitCode.usage,
    meaning:
      'provider local: the node-llama-cpp engine is not installed (install: npm install node-llama-cpp@3 next to marshal)',
  },
  E_LOCAL_MODEL: {
    exit: ExitCode.failure,
    meaning: 'provider local: the GGUF model did not load or its generation failed',
  },
  E_CLAUDE_CODE: {
    exit: ExitCode.failure,
    meaning: 'provider claude-code: `claude` failed, timed out, reported is_error, or wrote no result event',
  },
});

/** An agents error code. */
export type AgentErrorCode = keyof typeof AGENT_ERRORS;
