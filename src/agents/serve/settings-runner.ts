/**
 * The {@link ServeRunner} of `marshal serve`: heavy and ask runs with the server's settings and
 * runtime (upstream model, endpoint, tools, budgets), a request's `marshal.agents` and
 * `marshal.strategy` over them.
 */
import { runAskFromSettings, runHeavyFromSettings } from '../jobs.ts';
import type { AgentSettings } from '../resolve-settings.ts';
import type { AgentRuntime } from '../runtime.ts';
import type { ServeRunner } from './serve.ts';

/** A runner over `settings` and `runtime` (shared by every request). */
export function settingsRunner(settings: AgentSettings, runtime: AgentRuntime): ServeRunner {
  return {
    upstreamModel: settings.model,
    heavy: (question, { agents, strategy, signal, onEvent }) =>
      runHeavyFromSettings(
        question,
        {
          ...settings,
          ...(agents === undefined ? {} : { agents }),
          ...(strategy === undefined ? {} : { strategy }),
        },
        runtime,
        { signal, onEvent },
      ),
    ask: (question, { signal, onEvent }) =>
      runAskFromSettings(question, settings, runtime, { signal, onEvent }),
  };
}
