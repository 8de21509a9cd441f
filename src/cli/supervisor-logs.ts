/**
 * `marshal logs [-f] [-n <lines>]`: the supervisor's JSONL log (`supervisor-switch.log`) rendered
 * for humans, optionally followed (across rotation) until Ctrl-C.
 */
import { isAbortError, redactSecrets } from '../core/index.ts';
import { followLines, metadataPaths, readLastLines } from '../supervisor/index.ts';
import { type CommandSpec, numberOption } from './command.ts';
import { println, styler, useColor } from './io.ts';
import { resolveWorkspace, WORKSPACE_OPTION } from './supervisor-context.ts';
import { renderLogLine } from './supervisor-render.ts';

export const logsCommand: CommandSpec = {
  name: 'logs',
  summary: "show the supervisor's log (supervisor-switch.log)",
  usage: 'logs [--workspace <dir>] [-f] [-n <lines>] [--raw]',
  options: {
    workspace: WORKSPACE_OPTION,
    follow: { type: 'boolean', short: 'f', description: 'keep printing new lines until Ctrl-C' },
    lines: {
      type: 'string',
      short: 'n',
      valueName: 'lines',
      description: 'lines to show first',
      defaultText: '50',
    },
    raw: { type: 'boolean', description: 'print the JSONL records as they are' },
  },
  examples: ['marshal logs -n 100', 'marshal logs -f'],
  async run(ctx) {
    const n = numberOption(ctx.values, 'lines', { min: 0, max: 100_000, integer: true }) ?? 50;
    const paths = metadataPaths((await resolveWorkspace(ctx)).root);
    const s = styler(useColor(ctx.io, 'stdout'));
    const show = (line: string): void =>
      println(
        ctx.io.stdout,
        ctx.values.raw ? redactSecrets(line.replace(/[\u0000-\u001f\u007f]/g, '')) : renderLogLine(line, s),
      );
    for (const line of await readLastLines(paths.switchLog, n)) show(line);
    if (!ctx.values.follow) return 0;
    try {
      for await (const line of followLines(paths.switchLog, { signal: ctx.signal, from: 'end' })) show(line);
    } catch (err) {
      if (!isAbortError(err)) throw err;
    }
    // Following ends only on Ctrl-C / SIGTERM, the normal way to leave.
    return 0;
  },
};
