/**
 * `marshal ask`: one agent with tools. With a question: answer it. Without one and a TTY on stdin:
 * a REPL. Without a TTY: the question is read from stdin.
 */
import {
  type AgentRuntime,
  type AgentSettings,
  type AskOutcome,
  createAgentRuntime,
  type EventSink,
  noAnswerError,
  runAskFromSettings,
} from '../agents/index.ts';
import { deadline, ExitCode, sanitizeForTerminal, UsageError } from '../core/index.ts';
import {
  AGENT_EXIT_CODES,
  AGENT_OPTIONS,
  BUDGET_OPTIONS,
  createSinks,
  loadSettings,
  streamsAnswer,
  toolWarning,
  withFlagNames,
} from './agent-setup.ts';
import { type AnswerStream, createAnswerStream } from './answer-stream.ts';
import { runRepl } from './ask-repl.ts';
import type { CommandContext, CommandSpec } from './command.ts';
import { type Io, printJson, styler, useColor } from './io.ts';
import { MAX_STDIN_QUESTION_BYTES, readQuestion } from './read-question.ts';
import { formatEventLine } from './render/event-line.ts';

/** The `--json` document of `ask`. */
export function askJson(outcome: AskOutcome) {
  const { id: _id, ...rest } = outcome;
  return rest;
}

function printOutcome(io: Io, outcome: AskOutcome, json: boolean, answerStream?: AnswerStream): void {
  if (json) {
    printJson(io, askJson(outcome));
    return;
  }
  // A streamed answer is on stdout already: end it (or replace it) before any warning.
  const streamed = answerStream?.started === true;
  if (streamed) answerStream!.finish(outcome.answer);
  const style = styler(useColor(io, 'stderr'));
  if (outcome.status !== 'ok') {
    io.stderr.write(
      `${style.yellow(outcome.status)}${outcome.error ? `: ${sanitizeForTerminal(outcome.error.message)}` : ''}\n`,
    );
  }
  if (outcome.stoppedBy) {
    const b = outcome.stoppedBy;
    const flag = b.budget === 'maxCost' ? `--max-cost $${b.limit}` : `--max-tokens-total ${b.limit}`;
    const kept = outcome.answer === null ? '' : '; the answer is its partial text';
    io.stderr.write(`${style.yellow(`warning: the budget (${flag}) stopped the agent${kept}`)}\n`);
  }
  if (outcome.answer !== null && !streamed)
    io.stdout.write(`${sanitizeForTerminal(outcome.answer, true).trimEnd()}\n`);
}

async function runAskCommand(ctx: CommandContext): Promise<number> {
  const { settings } = await loadSettings(ctx);
  const { io } = ctx;
  let question = ctx.positionals.join(' ').trim();
  const repl = question === '' && io.isTTY.stdin;
  if (question === '' && !repl) {
    question = await readQuestion(io.stdin, 'ask');
    if (question === '') {
      throw new UsageError('marshal ask: no question (none given and stdin was empty)', {
        hint: 'usage: marshal ask [options] [<question>]',
      });
    }
  }
  const runtime = await createAgentRuntime(settings, {
    env: io.env,
    onToolSkipped: toolWarning(ctx),
    // Ctrl-C also stops what starting takes: MCP servers listing their tools, a model download.
    signal: ctx.signal,
  }).catch((error: unknown) => {
    throw withFlagNames(error);
  });
  if (repl) {
    try {
      return await runAskRepl(ctx, settings, runtime);
    } finally {
      await runtime.close();
    }
  }

  const sinks = createSinks(settings, ctx, runtime.apiKey, 'ASK');
  // The agent's replies stream to stdout (text before tool calls too); the live view stops first.
  const answerStream = streamsAnswer(ctx)
    ? createAnswerStream(io, (e) => e.scope === 'agent-1', 'agent-1')
    : undefined;
  let outcome: AskOutcome;
  try {
    outcome = await runAskFromSettings(question, settings, runtime, {
      signal: ctx.signal,
      onEvent: (e) => {
        if (answerStream && !answerStream.started && e.type === 'llm_delta' && e.content !== undefined) {
          sinks.view.stop();
        }
        sinks.onEvent(e);
        answerStream?.onEvent(e);
      },
    });
  } finally {
    await sinks.close();
    // Stops the MCP servers with the run.
    await runtime.close();
  }
  printOutcome(io, outcome, settings.json, answerStream);
  if (ctx.signal.aborted) return ExitCode.interrupted;
  return noAnswerError(outcome)?.exitCode ?? ExitCode.ok;
}

async function runAskRepl(
  ctx: CommandContext,
  settings: AgentSettings,
  runtime: AgentRuntime,
): Promise<number> {
  const { io } = ctx;
  const style = styler(useColor(io, 'stderr'));
  io.stderr.write(
    style.dim(
      `marshal ask · ${settings.model} · quit, exit, bye or Ctrl-D to leave; Ctrl-C cancels an answer\n`,
    ),
  );
  await runRepl({
    input: io.stdin,
    output: io.stderr,
    terminal: true,
    signal: ctx.signal,
    answer: async (question, signal) => {
      const onEvent: EventSink = (e) => {
        if (e.type === 'tool_call' || e.type === 'tool_result' || e.type === 'llm_retry') {
          const line = formatEventLine(e);
          if (line) io.stderr.write(`${style.dim(`  ${line}`)}\n`);
        }
      };
      // Ctrl-C (this answer) or SIGTERM (the REPL): linked by listeners, cleared after the answer.
      const linked = deadline(undefined, [signal, ctx.signal], 'the answer');
      try {
        const outcome = await runAskFromSettings(question, settings, runtime, {
          signal: linked.signal,
          onEvent,
        });
        printOutcome(io, outcome, settings.json);
      } finally {
        linked.clear();
      }
    },
  });
  return ctx.signal.aborted ? ExitCode.interrupted : ExitCode.ok;
}

export const askCommand: CommandSpec = {
  name: 'ask',
  summary: 'answer a question with one tool-using agent (a REPL without a question)',
  usage: 'ask [options] [<question>]',
  description: [
    'Runs one agent with the built-in tools (search_web, calculate, read_file, write_file,',
    'mark_task_complete) and any from --tools-dir. With no question and a terminal on stdin it',
    'starts a REPL (quit, exit, bye or Ctrl-D leave; Ctrl-C cancels the current answer only);',
    `with no question and piped stdin it reads the question from stdin (at most ${MAX_STDIN_QUESTION_BYTES / 1024} KiB).`,
    '--max-cost / --max-tokens-total (or budget: in marshal.yaml) bound each answer: once reached no',
    'new call starts, the running one is cancelled, and its partial text is the answer (exit 0, with',
    'a warning; --json says stoppedBy).',
  ].join('\n'),
  options: { ...BUDGET_OPTIONS, ...AGENT_OPTIONS },
  positionals: { min: 0, max: Number.MAX_SAFE_INTEGER, names: '[<question>]' },
  exitCodes: AGENT_EXIT_CODES,
  examples: [
    'marshal ask "What is 2**10 + 3?"',
    'echo "Summarise README.md" | marshal ask --workspace .',
    'marshal ask --max-tokens-total 5000 "Explain TCP slow start"',
    'marshal ask',
  ],
  run: runAskCommand,
};
