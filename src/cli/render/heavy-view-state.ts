/**
 * The live view's model: a pure reducer from {@link HeavyEvent}s to what the view shows, so the
 * rendering can be tested without a terminal.
 */
import type { AgentStatus, HeavyEvent } from '../../agents/index.ts';
import { assertNever } from '../../core/index.ts';

export type RowState = 'queued' | 'running' | AgentStatus;

export interface AgentRow {
  id: string;
  question: string;
  state: RowState;
  /** What it is doing now: "thinking (step 2)", "tool read_file", "retrying in 2s". */
  activity: string;
  tokens: number;
  startedAt: number | undefined;
  endedAt: number | undefined;
}

export type Phase = 'starting' | 'decomposing' | 'running' | 'combining' | 'done';

export interface ViewState {
  /** Shown after the model name: HEAVY, or ASK for one agent. */
  label: string;
  model: string;
  strategy: string;
  startedAt: number;
  phase: Phase;
  subQuestions: string[];
  agents: AgentRow[];
  /** Tokens of every call (agents, decompose, combine). */
  tokens: number;
  endedAt: number | undefined;
  /** The user interrupted the run (Ctrl-C): the end says CANCELLED, not DONE. */
  cancelled: boolean;
}

export function initialViewState(now: number, header: { model?: string; label?: string } = {}): ViewState {
  return {
    label: header.label ?? 'HEAVY',
    model: header.model ?? '',
    strategy: '',
    startedAt: now,
    phase: 'starting',
    subQuestions: [],
    agents: [],
    tokens: 0,
    endedAt: undefined,
    cancelled: false,
  };
}

function row(state: ViewState, id: string): AgentRow {
  let r = state.agents.find((a) => a.id === id);
  if (!r) {
    r = {
      id,
      question: '',
      state: 'queued',
      activity: '',
      tokens: 0,
      startedAt: undefined,
      endedAt: undefined,
    };
    state.agents.push(r);
  }
  return r;
}

/** Applies one event (mutates and returns `state`; the view owns it). */
export function reduceView(state: ViewState, e: HeavyEvent): ViewState {
  switch (e.type) {
    case 'run_start':
      Object.assign(state, { model: e.model, strategy: e.strategy, startedAt: e.at });
      for (let i = 1; i <= e.agents; i++) row(state, `agent-${i}`);
      break;
    case 'decompose_start':
      state.phase = 'decomposing';
      break;
    case 'decompose_done':
      state.phase = 'running';
      state.subQuestions = e.subQuestions;
      e.subQuestions.forEach((q, i) => {
        row(state, `agent-${i + 1}`).question = q;
      });
      break;
    case 'agent_start':
      Object.assign(row(state, e.agentId), {
        state: 'running',
        question: e.question,
        startedAt: e.at,
        activity: 'starting',
      });
      break;
    case 'agent_step':
      row(state, e.agentId).activity = `thinking (step ${e.iteration})`;
      break;
    case 'tool_call':
      row(state, e.agentId).activity = `tool ${e.name}`;
      break;
    case 'tool_result':
      row(state, e.agentId).activity = `tool ${e.name} ${e.ok ? 'ok' : 'failed'}`;
      break;
    case 'llm_retry':
      if (state.agents.some((a) => a.id === e.scope)) {
        row(state, e.scope).activity =
          `retry ${e.attempt + 1} in ${Math.ceil(e.delayMs / 1000)}s${e.status ? ` (HTTP ${e.status})` : ''}`;
      }
      break;
    case 'llm_response': {
      const tokens = e.usage.promptTokens + e.usage.completionTokens;
      state.tokens += tokens;
      if (state.agents.some((a) => a.id === e.scope)) row(state, e.scope).tokens += tokens;
      break;
    }
    case 'agent_done': {
      const r = row(state, e.agentId);
      Object.assign(r, {
        state: e.outcome.status,
        endedAt: e.at,
        activity: e.outcome.error?.message ?? 'done',
      });
      break;
    }
    case 'combine_start':
      state.phase = 'combining';
      break;
    case 'combine_done':
      break;
    case 'run_done':
      state.phase = 'done';
      state.endedAt = e.at;
      break;
    case 'llm_request':
    case 'budget_reached':
      break;
    case 'llm_delta':
      // Streamed replies: per-agent progress while the reply is being written.
      if (state.agents.some((a) => a.id === e.scope)) {
        row(state, e.scope).activity =
          `${e.content === undefined && e.reasoning !== undefined ? 'reasoning' : 'writing'} ~${e.chunks} tok`;
      }
      break;
    default:
      return assertNever(e, 'heavy event');
  }
  return state;
}
