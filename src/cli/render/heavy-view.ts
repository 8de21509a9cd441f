/**
 * The live terminal view of a heavy run on stderr: a header (model, phase, elapsed, tokens) and one
 * row per agent (state, current step or tool, tokens, elapsed, sub-question), redrawn in place
 * with log-update (never clearing the screen) at most 10 times a second. Without a TTY the same
 * events become one sanitised line each.
 */
import type { Writable } from 'node:stream';
import { createLogUpdate } from 'log-update';
import type { EventSink, HeavyEvent } from '../../agents/index.ts';
import { sanitizeForLog } from '../../core/index.ts';
import type { Styler } from '../io.ts';
import { formatEventLine } from './event-line.ts';
import { type AgentRow, initialViewState, reduceView, type ViewState } from './heavy-view-state.ts';
import { displayWidth, fitWidth } from './text-width.ts';

/** Make It Heavy's header: the model id's last segment, first three dash-parts, upper-cased. */
export function headerName(model: string): string {
  const last = model.split('/').pop() ?? model;
  return last.split('-').slice(0, 3).join('-').toUpperCase();
}

/** `12S`, `3M05S`, `1H02M`. */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}S`;
  if (s < 3600) return `${Math.floor(s / 60)}M${String(s % 60).padStart(2, '0')}S`;
  return `${Math.floor(s / 3600)}H${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}M`;
}

function formatTokens(n: number): string {
  return n < 1000 ? String(n) : `${(n / 1000).toFixed(1)}k`;
}

/** Sanitised and fitted to exactly `width` terminal columns (wide characters count 2). */
function fit(text: string, width: number): string {
  return fitWidth(sanitizeForLog(text), width);
}

/** Columns of `AGENT 01  ✓ ok        ` before the activity. */
const ROW_HEAD_WIDTH = 10 + 2 + 9 + 1;

/** Rows of agents that are over without an answer (shown first when not all rows fit). */
function isTrouble(a: AgentRow): boolean {
  return a.state !== 'ok' && a.state !== 'running' && a.state !== 'queued';
}

/** `32 agents · 20 ok · 8 running · 2 queued · 2 failed`, then how many rows are not shown. */
export function summaryLine(agents: readonly AgentRow[], hidden: number): string {
  const counts = new Map<string, number>();
  for (const a of agents) counts.set(a.state, (counts.get(a.state) ?? 0) + 1);
  const order = ['ok', 'running', 'queued', 'truncated', 'failed', 'timeout', 'max_iterations', 'cancelled'];
  const parts = order.filter((s) => counts.has(s)).map((s) => `${counts.get(s)} ${s}`);
  const tail = hidden > 0 ? ` · ${hidden} more not shown` : '';
  return `${agents.length} agents · ${parts.join(' · ')}${tail}`;
}

const ICON: Record<AgentRow['state'], string> = {
  queued: '○',
  running: '●',
  ok: '✓',
  truncated: '✂',
  failed: '✗',
  timeout: '⏱',
  cancelled: '⊘',
  max_iterations: '…',
};

/**
 * Renders the view as text. Pure: time, size and styles are inputs. Every line fits `width`
 * columns; with `height` rows and more agents than fit, it shows the header, the agents that
 * failed (or ended without an answer), then the running ones, as many as fit, and a summary line.
 */
export function renderView(
  state: ViewState,
  now: number,
  width: number,
  style: Styler,
  height?: number,
): string {
  const end = state.endedAt ?? now;
  const over = state.cancelled || state.phase === 'done';
  const phase = state.cancelled ? 'CANCELLED' : state.phase === 'done' ? 'DONE' : state.phase.toUpperCase();
  const name = fit(`${headerName(state.model || 'model')} ${state.label}`, Math.min(40, width)).trimEnd();
  const info = `${formatElapsed(end - state.startedAt)}  ${state.strategy} · ${formatTokens(state.tokens)} tokens`;
  const infoWidth = Math.max(0, width - displayWidth(name) - phase.length - 7);
  const lines = [
    `${style.bold(name)}  ${over ? (state.cancelled ? style.red('●') : '●') : style.yellow('●')} ${phase} • ${style.dim(fit(info, infoWidth).trimEnd())}`,
    '',
  ];
  // Header, blank line, agent rows, summary: never more lines than the terminal has (less one,
  // so log-update can redraw in place).
  let shown: Array<[number, AgentRow]> = [...state.agents.entries()];
  let hidden = 0;
  const compact = height !== undefined && state.agents.length + 2 > height - 1;
  if (compact) {
    const room = Math.max(0, height - 1 - 3);
    const trouble = shown.filter(([, a]) => isTrouble(a));
    const running = shown.filter(([, a]) => a.state === 'running');
    shown = [...trouble, ...running].slice(0, room).sort((x, y) => x[0] - y[0]);
    hidden = state.agents.length - shown.length;
  }
  for (const [i, a] of shown) {
    const colour =
      a.state === 'ok'
        ? style.green
        : a.state === 'running' || a.state === 'queued' || a.state === 'truncated'
          ? style.yellow
          : style.red;
    const elapsed = a.startedAt === undefined ? '' : formatElapsed((a.endedAt ?? now) - a.startedAt);
    const label = `AGENT ${String(i + 1).padStart(2, '0')}  `;
    const status = `${ICON[a.state]} ${fit(a.state, 9)}`;
    const numbers = `${formatTokens(a.tokens).padStart(6)} tok ${elapsed.padStart(6)}  `;
    // The activity column gives way first on a narrow terminal (down to 8), then the sub-question.
    const fixedWidth = ROW_HEAD_WIDTH + 1 + numbers.length;
    const activityWidth = Math.min(24, Math.max(8, width - fixedWidth - 12));
    const rest = width - fixedWidth - activityWidth;
    if (rest < 0) {
      // Too narrow for the columns: one plain line cut to the width.
      lines.push(fit(`${label}${status} ${a.activity} ${numbers}${a.question}`, width).trimEnd());
      continue;
    }
    const fixed = `${fit(a.activity, activityWidth)} ${numbers}`;
    lines.push(
      `${label}${colour(status)} ${fixed}${rest > 0 ? style.dim(fit(a.question, rest).trimEnd()) : ''}`,
    );
  }
  if (compact) lines.push(style.dim(fit(summaryLine(state.agents, hidden), width).trimEnd()));
  return lines.join('\n');
}

/** Rows assumed when the stream does not say (log-update's default too). */
export const DEFAULT_ROWS = 24;

export interface HeavyViewOptions {
  stream: Writable;
  /** Live redraw (TTY) or one line per event. */
  live: boolean;
  style: Styler;
  columns?: number | undefined;
  /** Redraw interval; default 100 ms (10 fps). */
  intervalMs?: number;
  now?: () => number;
  /** Header before any run_start event arrives (`ask` sends none): model id and label. */
  header?: { model?: string; label?: string };
  /** Terminal rows; default the stream's `rows` (a TTY's, read at every redraw), else 24. */
  rows?: number | undefined;
  /** The user's interrupt: once aborted, the view says CANCELLED instead of DONE. */
  signal?: AbortSignal | undefined;
}

export interface HeavyView {
  onEvent: EventSink;
  /** Final redraw and release of the terminal line; idempotent. */
  stop(): void;
}

/** Creates the view for a run (or, with one agent, for `ask`). */
export function createHeavyView(options: HeavyViewOptions): HeavyView {
  const { stream, style } = options;
  const now = options.now ?? Date.now;
  if (!options.live) {
    return {
      onEvent: (e: HeavyEvent) => {
        const line = formatEventLine(e);
        if (line !== undefined) stream.write(`${line}\n`);
      },
      stop: () => {},
    };
  }
  const state = initialViewState(now(), options.header);
  const tty = stream as Writable & { columns?: number; rows?: number };
  const columns = options.columns ?? 80;
  const log = createLogUpdate(stream, {
    showCursor: true,
    defaultWidth: columns,
    defaultHeight: options.rows ?? DEFAULT_ROWS,
  });
  const draw = () => {
    if (options.signal?.aborted) state.cancelled = true;
    // One column spare so a full row never wraps (wrapped rows break the in-place redraw); the
    // size is read at every redraw, so a resized terminal is followed.
    const width = Math.max(20, (tty.columns ?? columns) - 1);
    // log-update keeps only the last `rows` lines of a taller frame (the header went first).
    const rows = options.rows ?? tty.rows ?? DEFAULT_ROWS;
    log(renderView(state, now(), width, style, rows));
  };
  // One timer refreshes the elapsed times and picks up events; it is cleared by stop().
  const timer = setInterval(draw, options.intervalMs ?? 100);
  timer.unref();
  let stopped = false;
  return {
    onEvent: (e) => {
      reduceView(state, e);
    },
    stop: () => {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      draw();
      log.done();
    },
  };
}
