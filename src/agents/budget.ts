/**
 * A run's budget (`maxCost` in USD, `maxTokensTotal` in prompt + completion tokens): every
 * finished call's usage is added; once the work share (1 - reserve) of a budget is used, the
 * budget's signal aborts (running calls are cancelled, their agents end `cancelled`) and the work
 * model refuses to start new calls. The combine step then runs on {@link RunBudget.combineModel}:
 * it may use the reserve (a token budget's reserve bounds each combining reply as `max_tokens`),
 * and it starts no new call once the whole budget is used (a strategy needing more falls back to
 * concatenation). Usage of a call cancelled mid-way is not reported by the endpoint and is not
 * counted; cost counts only when the endpoint reports it (OpenRouter's `usage.cost`).
 */
import { AbortedError, InvalidInputError } from '../core/errors.ts';
import { addUsage, type ChatModel, type ChatRequest, type Usage, ZERO_USAGE } from './model.ts';
import { checkSetting, SETTINGS } from './settings.ts';

export interface BudgetOptions {
  /** USD; counted from the cost the endpoint reports. */
  maxCostUsd?: number | undefined;
  /** Prompt + completion tokens of every call. */
  maxTokensTotal?: number | undefined;
  /** Share of each budget kept for the combine step; default `SETTINGS.budgetReserve` (0.1). */
  reserve?: number | undefined;
}

/** Which budget stopped a run, its limit and what was used when it stopped (the `--json` shape). */
export interface BudgetStop {
  reason: 'budget';
  budget: 'maxCost' | 'maxTokensTotal';
  limit: number;
  /** What was used when the work stopped (USD or tokens). */
  used: number;
  /** The share of the limit kept for the combine step. */
  reserve: number;
}

const tokensOf = (u: Usage) => u.promptTokens + u.completionTokens;

/** The budget of one run. */
export class RunBudget {
  readonly #controller = new AbortController();
  readonly #options: BudgetOptions;
  readonly reserve: number;
  #used: Usage = ZERO_USAGE;
  #stop: BudgetStop | undefined;

  constructor(options: BudgetOptions) {
    if (options.maxCostUsd !== undefined) checkSetting('maxCost', options.maxCostUsd, 'maxCostUsd');
    if (options.maxTokensTotal !== undefined) checkSetting('maxTokensTotal', options.maxTokensTotal);
    this.reserve = checkSetting(
      'budgetReserve',
      options.reserve ?? SETTINGS.budgetReserve.default,
      'budgetReserve',
    );
    if (options.maxCostUsd === undefined && options.maxTokensTotal === undefined) {
      throw new InvalidInputError('budget', options, 'expected maxCostUsd or maxTokensTotal');
    }
    this.#options = options;
  }

  /** Aborts (reason: an AbortedError naming the budget) when the work share is used. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Set once a budget stopped the work. */
  get stopped(): BudgetStop | undefined {
    return this.#stop;
  }

  get used(): Usage {
    return this.#used;
  }

  /** Adds a finished call's usage; stops the work when the work share of a budget is reached. */
  add(usage: Usage): void {
    this.#used = addUsage(this.#used, usage);
    if (this.#stop !== undefined) return;
    const share = 1 - this.reserve;
    const { maxCostUsd, maxTokensTotal } = this.#options;
    const tokens = tokensOf(this.#used);
    if (maxTokensTotal !== undefined && tokens >= maxTokensTotal * share) {
      this.#halt({
        reason: 'budget',
        budget: 'maxTokensTotal',
        limit: maxTokensTotal,
        used: tokens,
        reserve: this.reserve,
      });
    } else if (maxCostUsd !== undefined && (this.#used.costUsd ?? 0) >= maxCostUsd * share) {
      this.#halt({
        reason: 'budget',
        budget: 'maxCost',
        limit: maxCostUsd,
        used: this.#used.costUsd ?? 0,
        reserve: this.reserve,
      });
    }
  }

  #halt(stop: BudgetStop): void {
    this.#stop = stop;
    const what = stop.budget === 'maxCost' ? `$${stop.limit}` : `${stop.limit} tokens`;
    this.#controller.abort(new AbortedError(`the run's budget (${what}) was reached`));
  }

  /** True once the whole budget (reserve included) is used. */
  #exhausted(): boolean {
    const { maxCostUsd, maxTokensTotal } = this.#options;
    return (
      (maxTokensTotal !== undefined && tokensOf(this.#used) >= maxTokensTotal) ||
      (maxCostUsd !== undefined && (this.#used.costUsd ?? 0) >= maxCostUsd)
    );
  }

  /** The model of the decomposition and the agents: counts usage, starts nothing once stopped. */
  workModel(model: ChatModel): ChatModel {
    return this.#wrap(
      model,
      () => this.#stop !== undefined,
      (r) => r,
    );
  }

  /**
   * The model of the combine step: counts usage, may use the reserve (a token budget's reserve
   * bounds each reply), starts nothing once the whole budget is used.
   */
  combineModel(model: ChatModel): ChatModel {
    const { maxTokensTotal } = this.#options;
    return this.#wrap(
      model,
      () => this.#exhausted(),
      (request) => {
        if (maxTokensTotal === undefined) return request;
        const left = Math.max(1, Math.floor(maxTokensTotal - tokensOf(this.#used)));
        return { ...request, maxTokens: Math.min(request.maxTokens ?? left, left) };
      },
    );
  }

  #wrap(model: ChatModel, refuse: () => boolean, shape: (r: ChatRequest) => ChatRequest): ChatModel {
    return {
      label: model.label,
      chat: async (request) => {
        if (refuse()) throw new AbortedError("not started: the run's budget was reached");
        const response = await model.chat(shape(request));
        this.add(response.usage);
        return response;
      },
    };
  }
}
