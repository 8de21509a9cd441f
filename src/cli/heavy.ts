/** `marshal heavy`: decompose, run N agents in parallel, combine; a thin adapter over runHeavy. */
import {
  answerKind,
  createAgentRuntime,
  type HeavyEvent,
  type HeavyResult,
  noAnswerError,
  runHeavyFromSettings,
} from '../agents/index.ts';
import { ExitCode, sanitizeForTerminal, UsageError } from '../core/index.ts';
import {
  AGENT_EXIT_CODES,
  createSinks,
  HEAVY_OPTIONS,
  loadSettings,
  streamsAnswer,
  toolWarning,
  withFlagNames,
} from './agent-setup.ts';
import { type AnswerStream, createAnswerStream } from './answer-stream.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import { type Io, printJson, styler, useColor } from './io.ts';
import { MAX_STDIN_QUESTION_BYTES, readQuestion } from './read-question.ts';

/** Exit code for a finished run: 130 when interrupted, E_NO_ANSWER's (3) when no agent answered, else 0. */
export function heavyExitCode(result: HeavyResult, interrupted: boolean): number {
  if (interrupted) return ExitCode.interrupted;
  return noAnswerError(result)?.exitCode ?? ExitCode.ok;
}

/** Prints the result: the `--json` document, or the answer on stdout and a summary on stderr. */
export function printHeavyResult(
  io: Io,
  result: HeavyResult,
  json: boolean,
  notes: string[],
  answerStream?: AnswerStream,
): void {
  if (json) {
    printJson(io, result);
    return;
  }
  // A streamed answer is on stdout already: end it (or replace it) before the summary on stderr.
  const streamed = answerStream?.started === true;
  if (streamed) answerStream!.finish(result.answer);
  const style = styler(useColor(io, 'stderr'));
  for (const note of notes) io.stderr.write(`${style.dim(`note: ${sanitizeForTerminal(note)}`)}\n`);
  const failed = result.agents.filter((a) => answerKind(a.status) !== 'answer');
  for (const a of failed) {
    const kept = a.answer === null ? '' : ' (partial text kept)';
    io.stderr.write(
      `${style.yellow(`${a.id}: ${a.status}`)}${a.error ? `: ${sanitizeForTerminal(a.error.message)}` : ''}${kept}\n`,
    );
  }
  if (result.stoppedBy) {
    const b = result.stoppedBy;
    const limit = b.budget === 'maxCost' ? `$${b.limit}` : `${b.limit} tokens`;
    io.stderr.write(
      `${style.yellow(`warning: the budget (--${b.budget === 'maxCost' ? 'max-cost' : 'max-tokens-total'} ${limit}) stopped the agents; the answer combines what finished`)}\n`,
    );
  }
  if (result.partial) {
    io.stderr.write(
      `${style.yellow('warning: no agent finished; the answer combines their partial work')}\n`,
    );
  }
  const u = result.usage;
  const cost = u.costUsd === null ? '' : `, $${u.costUsd.toFixed(4)}`;
  io.stderr.write(
    style.dim(
      `${result.agents.length - failed.length}/${result.agents.length} agents answered · ${u.promptTokens}+${u.completionTokens} tokens${cost} · ${(result.durationMs / 1000).toFixed(1)} s\n`,
    ),
  );
  if (result.answer === null) {
    io.stderr.write('marshal heavy: no agent produced an answer\n');
    return;
  }
  if (!streamed) io.stdout.write(`${sanitizeForTerminal(result.answer, true).trimEnd()}\n`);
}

/** Notes worth telling the user, gathered from the events (fallbacks). */
function noteCollector(): { onEvent: (e: HeavyEvent) => void; notes: string[] } {
  const notes: string[] = [];
  return {
    notes,
    onEvent: (e) => {
      if (e.type === 'decompose_done' && e.fallback)
        notes.push(`decomposition fell back to fixed angles: ${e.reason ?? ''}`);
      if (e.type === 'combine_done' && e.fallback)
        notes.push(e.note ?? `${e.strategy} did not complete; the answers are concatenated`);
      else if (e.type === 'combine_done' && e.note) notes.push(e.note);
    },
  };
}

async function runHeavyCommand(ctx: CommandContext): Promise<number> {
  const { settings } = await loadSettings(ctx);
  let question = ctx.positionals.join(' ').trim();
  if (question === '-') question = await readQuestion(ctx.io.stdin, 'heavy');
  if (question === '') {
    throw new UsageError('marshal heavy: the question is empty', {
      hint: 'usage: marshal heavy [options] <question>   (- reads it from stdin)',
    });
  }
  const runtime = await createAgentRuntime(settings, {
    env: ctx.io.env,
    onToolSkipped: toolWarning(ctx),
    // Ctrl-C also stops what starting takes: MCP servers listing their tools, a model download.
    signal: ctx.signal,
  }).catch((error: unknown) => {
    throw withFlagNames(error);
  });
  const sinks = createSinks(settings, ctx, runtime.apiKey, 'HEAVY');
  const collector = noteCollector();
  // The combine step's answer call streams to stdout; the live view stops before its first piece.
  const answerStream = streamsAnswer(ctx)
    ? createAnswerStream(ctx.io, (e) => e.answer === true && e.scope === 'combine')
    : undefined;
  let result: HeavyResult;
  try {
    result = await runHeavyFromSettings(question, settings, runtime, {
      signal: ctx.signal,
      onEvent: (e) => {
        if (answerStream && !answerStream.started && e.type === 'llm_delta' && e.answer === true) {
          sinks.view.stop();
        }
        sinks.onEvent(e);
        collector.onEvent(e);
        answerStream?.onEvent(e);
      },
    });
  } finally {
    await sinks.close();
    // Stops the MCP servers with the run.
    await runtime.close();
  }
  const interrupted = ctx.signal.aborted;
  if (interrupted && !settings.json)
    ctx.io.stderr.write('marshal heavy: interrupted; showing what finished\n');
  printHeavyResult(ctx.io, result, settings.json, collector.notes, answerStream);
  return heavyExitCode(result, interrupted);
}

export const heavyCommand: CommandSpec = {
  name: 'heavy',
  summary: 'answer a question with N agents in parallel, then combine their answers',
  usage: 'heavy [options] <question>',
  description: [
    'Splits the question into N sub-questions, runs one tool-using agent per sub-question in parallel',
    '(each sees the original question too), and combines the answers that finished. Progress goes to',
    'stderr (a live view on a terminal), the answer to stdout. The API key comes only from the',
    'environment: OPENROUTER_API_KEY, OPENAI_API_KEY, or the variable named by provider.apiKeyEnv.',
    `A question of - is read from stdin (at most ${MAX_STDIN_QUESTION_BYTES / 1024} KiB).`,
    'Agent statuses: ok, truncated (cut at --max-tokens; partial text kept, warned), failed, timeout,',
    'cancelled, max_iterations (every one but ok keeps the last text). When no agent finished, the',
    'answer combines their partial work and the result says partial. The decomposition is bounded by',
    '--decompose-timeout (default 20% of --timeout, at least 30 s), then falls back to fixed angles.',
    'On a terminal (or with --stream) replies stream: the answer appears on stdout as it is written.',
    '--max-cost / --max-tokens-total budget the run: at 90% no new call starts, running ones are',
    'cancelled, and the combine step runs over what finished within the 10% reserve (stoppedBy in --json).',
    '--strategy vote is self-consistency: no decomposition, every agent gets the question itself and ends',
    'with a line "Answer: ..."; the most frequent normalised answer wins, a tie goes to one judge call.',
    'Requests to an endpoint share one adaptive limiter: 429s halve the requests in flight, successes',
    'raise them again up to --concurrency (default no cap); Retry-After and retry-after-ms are honoured.',
  ].join('\n'),
  options: HEAVY_OPTIONS,
  positionals: { min: 1, max: Number.MAX_SAFE_INTEGER, names: '<question>' },
  exitCodes: AGENT_EXIT_CODES,
  examples: [
    'marshal heavy "What are the trade-offs of WebAssembly on the server?"',
    'marshal heavy -n 8 --strategy debate --timeout 600 "Is P = NP likely?"',
    'marshal heavy --base-url http://127.0.0.1:11434/v1 --model llama3.1 --json "..."',
    'cat question.txt | marshal heavy -',
    'marshal heavy --stream --max-tokens-total 20000 "Compare Raft and Paxos" | tee answer.txt',
  ],
  run: runHeavyCommand,
};
