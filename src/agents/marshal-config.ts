/**
 * The schema of `marshal.yaml` (strict: unknown keys are errors). Every plain option's type,
 * bounds, default and help come from the settings table (settings.ts). The API key is never in
 * here: only the NAME of the variable holding it (`provider.apiKeyEnv`).
 */
import { z } from 'zod';
import { type HeavyPrompts, placeholdersOf, REQUIRED_PLACEHOLDERS } from './prompts.ts';
import { looksLikeKey } from './providers/api-key.ts';
import { configField, isHttpUrl, SETTINGS } from './settings.ts';

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
      baseUrl: configField('baseUrl'),
      model: configField('model'),
      // A key pasted here by mistake must not end up in an error message: `secret` keeps the
      // value out of it (core config errors), as checkApiKeyEnv does for --api-key-env.
      apiKeyEnv: z
        .string()
        .refine((v) => !looksLikeKey(v), {
          message: 'expected an environment variable NAME such as MY_API_KEY',
          params: { secret: true },
        })
        .optional()
        .describe(SETTINGS.apiKeyEnv.help),
      retries: configField('retries'),
      requestTimeout: configField('requestTimeout'),
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
      concurrency: configField('concurrency'),
      decomposeModel: SETTINGS.model.schema.optional().describe('model for the decomposition call'),
      combineModel: SETTINGS.model.schema.optional().describe('model for synthesis / judge calls'),
      perAgent: z
        .array(
          z.strictObject({
            model: SETTINGS.model.schema.optional(),
            temperature: SETTINGS.temperature.schema.optional(),
            systemPrompt: z.string().min(1).optional(),
          }),
        )
        .max(SETTINGS.agents.schema.maxValue ?? 64)
        .optional()
        .describe('overrides for agent 1, 2, ... in order'),
    })
    .optional(),
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
    })
    .optional(),
});

export type MarshalConfig = z.output<typeof marshalConfigSchema>;
