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

function fit(text: string, width: number): string {
  const clean = sanitizeForLog(text);
  if (width <= 0) return '';
  return clean.length <= width ? clean.padEnd(width) : `${clean.slice(0, Math.max(0, width - 1))}…`;
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

/** Renders the view as text. Pure: time, width and styles are inputs. */
export function renderView(state: ViewState, now: number, width: number, style: Styler): string {
  const end = state.endedAt ?? now;
  const phase = state.phase === 'done' ? 'DONE' : state.phase.toUpperCase();
  const lines = [
    `${style.bold(`${headerName(state.model || 'model')} ${state.label}`)}  ${state.phase === 'done' ? '●' : style.yellow('●')} ${phase} • ${formatElapsed(end - state.startedAt)}  ${style.dim(`${state.strategy} · ${formatTokens(state.tokens)} tokens`)}`,
    '',
  ];
  for (const [i, a] of state.agents.entries()) {
    const colour =
      a.state === 'ok'
        ? style.green
        : a.state === 'running' || a.state === 'queued' || a.state === 'truncated'
          ? style.yellow
          : style.red;
    const elapsed = a.startedAt === undefined ? '' : formatElapsed((a.endedAt ?? now) - a.startedAt);
    const head = `AGENT ${String(i + 1).padStart(2, '0')}  ${colour(`${ICON[a.state]} ${fit(a.state, 9)}`)} `;
    const fixed = `${fit(a.activity, 24)} ${formatTokens(a.tokens).padStart(6)} tok ${elapsed.padStart(6)}  `;
    const rest = Math.max(10, width - 12 - 11 - fixed.length);
    lines.push(`${head}${fixed}${style.dim(fit(a.question, rest).trimEnd())}`);
  }
  return lines.join('\n');
}

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
  const columns = options.columns ?? 80;
  const log = createLogUpdate(stream, { showCursor: true, defaultWidth: columns });
  // One column spare so a full row never wraps (wrapped rows break the in-place redraw).
  const width = Math.max(40, columns - 1);
  const draw = () => log(renderView(state, now(), width, style));
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
