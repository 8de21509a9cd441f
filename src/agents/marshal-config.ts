/**
 * The schema of `marshal.yaml` (strict: unknown keys are errors). Every plain option's type,
 * bounds, default and help come from the settings table (settings.ts). The API key is never in
 * here: only the NAME of the variable holding it (`provider.apiKeyEnv`).
 */
import { z } from 'zod';
import { type HeavyPrompts, placeholdersOf, REQUIRED_PLACEHOLDERS } from './prompts.ts';
import { looksLikeKey } from './providers/api-key.ts';
import { configField, isHttpUrl, PROVIDER_KINDS, SETTINGS } from './settings.ts';

export type ProviderKind = (typeof PROVIDER_KINDS)[number];

/** An MCP server's name: its tools are offered as `NAME__tool`, so no `__` inside. */
export const MCP_SERVER_NAME = /^(?!.*__)[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/;

const apiKeyEnvField = z
  .string()
  .refine((v) => !looksLikeKey(v), {
    message: 'expected an environment variable NAME such as MY_API_KEY',
    params: { secret: true },
  })
  .optional()
  .describe(SETTINGS.apiKeyEnv.help);

/** One `mcp.servers` entry: a stdio command (argv, never a shell) or a streamable HTTP URL. */
const mcpServerSchema = z
  .strictObject({
    command: z.string().min(1).optional().describe('program of a stdio server (PATH searched; no shell)'),
    args: z.array(z.string()).optional().describe('its arguments'),
    env: z
      .record(z.string(), z.string())
      .optional()
      .describe('variables added to PATH, HOME, USER, LOGNAME, SHELL, TERM (nothing else is passed)'),
    cwd: z
      .string()
      .min(1)
      .optional()
      .describe('working directory (relative to this file); default its directory'),
    url: z
      .string()
      .refine(isHttpUrl, { message: 'expected an http or https URL' })
      .optional()
      .describe('URL of a streamable HTTP server'),
    headers: z.record(z.string(), z.string()).optional().describe('HTTP headers sent to it'),
    timeout: z
      .number()
      .min(0.001)
      .max(3600)
      .optional()
      .describe('bound on each tool call, seconds; default 60'),
    startTimeout: z
      .number()
      .min(0.001)
      .max(600)
      .optional()
      .describe('bound on starting it and listing its tools, seconds; default 30'),
  })
  .superRefine((s, ctx) => {
    if ((s.command === undefined) === (s.url === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'expected exactly one of `command` (stdio) or `url` (HTTP)' });
    }
    if (s.url !== undefined && (s.args ?? s.env ?? s.cwd) !== undefined) {
      ctx.addIssue({
        code: 'custom',
        message: '`args`, `env` and `cwd` are for a stdio `command`, not a `url`',
      });
    }
    if (s.command !== undefined && s.headers !== undefined) {
      ctx.addIssue({ code: 'custom', message: '`headers` are for a `url`, not a stdio `command`' });
    }
  });

export type McpServerConfig = z.output<typeof mcpServerSchema>;

function template(kind: keyof HeavyPrompts) {
  const groups = REQUIRED_PLACEHOLDERS[kind];
  const names = groups.map((g) => `{${g[0]}}`).join(', ');
  return z
    .string()
    .min(1)
    .refine(
      (text) => {
        const used = placeholdersOf(text);
        return groups.every((g) => g.some((name) => used.has(name)));
      },
      { message: `the ${kind} prompt must keep the placeholders ${names}` },
    )
    .describe(groups.length > 0 ? `template; must keep ${names}` : 'system prompt of every agent');
}

/** The JSON-serialisable schema of `marshal.yaml` (`marshal config schema marshal` prints it). */
export const marshalConfigSchema = z.strictObject({
  provider: z
    .strictObject({
      kind: configField('provider'),
      baseUrl: configField('baseUrl'),
      model: configField('model'),
      modelFile: configField('modelFile'),
      threads: configField('threads'),
      // A key pasted here by mistake must not end up in an error message: `secret` keeps the
      // value out of it (core config errors), as checkApiKeyEnv does for --api-key-env.
      apiKeyEnv: apiKeyEnvField,
      claudeBinary: z
        .string()
        .min(1)
        .optional()
        .describe('the Claude Code executable (PATH searched); default claude'),
      retries: configField('retries'),
      requestTimeout: configField('requestTimeout'),
      concurrency: configField('concurrency'),
      contextTokens: configField('contextTokens'),
    })
    .optional(),
  agent: z
    .strictObject({
      maxIterations: configField('maxIterations'),
      temperature: configField('temperature'),
      maxTokens: configField('maxTokens'),
      reasoningEffort: configField('reasoningEffort'),
    })
    .optional(),
  heavy: z
    .strictObject({
      agents: configField('agents'),
      strategy: configField('strategy'),
      timeout: configField('timeout'),
      agentTimeout: configField('agentTimeout'),
      combineTimeout: configField('combineTimeout'),
      decomposeTimeout: configField('decomposeTimeout'),
      concurrency: configField('concurrency').describe(`same as provider.concurrency (kept for older files)`),
      decomposeModel: SETTINGS.model.schema.optional().describe('model for the decomposition call'),
      combineModel: SETTINGS.model.schema.optional().describe('model for synthesis / judge calls'),
      perAgent: z
        .array(
          z.strictObject({
            provider: z
              .enum(PROVIDER_KINDS)
              .optional()
              .describe("this agent's provider; default provider.kind"),
            model: SETTINGS.model.schema.optional(),
            baseUrl: configField('baseUrl'),
            apiKeyEnv: apiKeyEnvField,
            temperature: SETTINGS.temperature.schema.optional(),
            systemPrompt: z.string().min(1).optional(),
          }),
        )
        .max(SETTINGS.agents.schema.maxValue ?? 64)
        .optional()
        .describe('overrides for agent 1, 2, ... in order'),
    })
    .optional(),
  budget: z
    .strictObject({
      maxCost: configField('maxCost'),
      maxTokensTotal: configField('maxTokensTotal'),
      reserve: configField('budgetReserve'),
    })
    .optional()
    .describe('budgets of every heavy run and every ask answer (flags win)'),
  tools: z
    .strictObject({
      workspace: z.string().min(1).optional().describe('root of the file tools (relative to this file)'),
      dir: z.string().min(1).optional().describe('directory of extra tools (relative to this file)'),
      allowWrite: configField('allowWrite'),
      allowSecretFiles: configField('allowSecretFiles'),
      search: z
        .strictObject({
          endpoint: z
            .string()
            .refine(isHttpUrl, { message: 'expected an http or https URL' })
            .optional()
            .describe('search endpoint for search_web (http or https)'),
          maxResults: z.int().min(1).max(20).optional(),
        })
        .optional(),
    })
    .optional(),
  mcp: z
    .strictObject({
      servers: z
        .record(
          z.string().regex(MCP_SERVER_NAME, {
            message: 'expected a name of letters, digits, "_" and "-" (at most 32, no "__")',
          }),
          mcpServerSchema,
        )
        .optional()
        .describe('MCP servers whose tools the agents get, as SERVER__TOOL'),
    })
    .optional(),
  prompts: z
    .strictObject({
      system: template('system').optional(),
      decompose: template('decompose').optional(),
      synthesize: template('synthesize').optional(),
      judge: template('judge').optional(),
      debate: template('debate').optional(),
    })
    .optional(),
  output: z
    .strictObject({
      json: z.boolean().optional().describe('print one JSON document instead of text'),
      trace: z.string().min(1).optional().describe('JSONL trace file (relative to this file)'),
      traceAppend: z
        .boolean()
        .optional()
        .describe('add each run to the trace file instead of starting a new file'),
    })
    .optional(),
});

export type MarshalConfig = z.output<typeof marshalConfigSchema>;
