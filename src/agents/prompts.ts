/**
 * The prompts of a heavy run and the fallback angles. Every prompt is a template with `{name}`
 * placeholders; config files may replace any of them (see `config.ts`, which checks that a
 * replacement keeps the placeholders it needs).
 */

/** The prompt templates a heavy run uses. */
export interface HeavyPrompts {
  /** System prompt of every agent (and of `ask`). */
  system: string;
  /** Decomposition; placeholders `{question}`, `{n}` (Make It Heavy's `{user_input}`, `{num_agents}` also work). */
  decompose: string;
  /** Synthesis; `{question}`, `{num_responses}`, `{agent_responses}`. */
  synthesize: string;
  /** Judge; `{question}`, `{num_responses}`, `{agent_responses}`; the reply is `{"best": n, "reason": "..."}`. */
  judge: string;
  /** One compare-notes revision; `{question}`, `{sub_question}`, `{own_answer}`, `{other_answers}`. */
  debate: string;
}

/** Placeholders each prompt must keep, checked when a config file overrides it. */
export const REQUIRED_PLACEHOLDERS: Record<keyof HeavyPrompts, string[][]> = {
  system: [],
  decompose: [
    ['question', 'user_input'],
    ['n', 'num_agents'],
  ],
  synthesize: [['question', 'user_input'], ['agent_responses']],
  judge: [['question', 'user_input'], ['agent_responses']],
  debate: [['question', 'user_input'], ['own_answer'], ['other_answers']],
};

export const DEFAULT_PROMPTS: Readonly<HeavyPrompts> = Object.freeze({
  system: [
    'You are a helpful research assistant. Use the available tools when they help: search for current',
    'information, calculate instead of guessing, and read files when asked about them.',
    'When you have a complete answer, reply with the answer itself as plain text (no tool call).',
    'You may instead call mark_task_complete with your final answer as completion_message.',
  ].join('\n'),
  decompose: [
    'You are an orchestrator that needs to create {n} different questions to thoroughly analyze this',
    'topic from multiple angles.',
    '',
    'Original user query: {question}',
    '',
    'Generate exactly {n} different, specific questions that will help gather comprehensive information',
    'about this topic. Each question should approach the topic from a different angle (research,',
    'analysis, verification, alternatives, etc.). Each question must make sense on its own.',
    '',
    'Return only a JSON array of {n} strings, like this: ["question 1", "question 2"]. Nothing else.',
  ].join('\n'),
  synthesize: [
    'A user asked: {question}',
    '',
    '{num_responses} research agents each investigated one aspect of this question. Their findings,',
    'each labelled with the sub-question it answers:',
    '',
    '{agent_responses}',
    '',
    'Write ONE comprehensive final answer to the user question, combining the best and most reliable',
    'information from all agents and resolving contradictions. Do not mention the agents or that you',
    'are synthesizing; answer the user directly.',
  ].join('\n'),
  judge: [
    'A user asked: {question}',
    '',
    'Here are {num_responses} candidate answers, numbered:',
    '',
    '{agent_responses}',
    '',
    'Pick the single best answer to the user question: the most correct, complete and well supported.',
    'Reply with only a JSON object: {"best": <number of the best answer>, "reason": "<one sentence>"}.',
  ].join('\n'),
  debate: [
    'A user asked: {question}',
    '',
    'You worked on this sub-question: {sub_question}',
    'Your answer was:',
    '',
    '{own_answer}',
    '',
    'Other agents working on the same user question answered:',
    '',
    '{other_answers}',
    '',
    'Compare notes. If another agent found something you missed or got wrong, adopt it; if you are',
    'confident they are wrong, keep your position. Reply with your revised answer only.',
  ].join('\n'),
});

/** Merges overrides (from a config file or options) over the defaults. */
export function resolvePrompts(overrides: Partial<HeavyPrompts> = {}): HeavyPrompts {
  const out: HeavyPrompts = { ...DEFAULT_PROMPTS };
  for (const key of Object.keys(DEFAULT_PROMPTS) as (keyof HeavyPrompts)[]) {
    const v = overrides[key];
    if (typeof v === 'string') out[key] = v;
  }
  return out;
}

/** Aliases so prompts written for Make It Heavy keep working. */
const ALIASES: Record<string, string> = { user_input: 'question', num_agents: 'n' };

/**
 * Fills `{name}` placeholders. Unknown names are left as they are, so JSON examples inside a prompt
 * survive; values are inserted verbatim and never re-scanned.
 */
export function fillTemplate(template: string, vars: Record<string, string | number>): string {
  return template.replace(/\{([a-z_]+)\}/g, (whole, name: string) => {
    const key = name in vars ? name : ALIASES[name];
    const v = key === undefined ? undefined : vars[key];
    return v === undefined ? whole : String(v);
  });
}

/** The placeholders a template uses. */
export function placeholdersOf(template: string): Set<string> {
  return new Set([...template.matchAll(/\{([a-z_]+)\}/g)].map((m) => m[1]!));
}

/** The angles the fallback sub-questions cycle through (Make It Heavy's four, then four more). */
export const FALLBACK_ANGLES: readonly string[] = [
  'Research comprehensive information about: {question}',
  'Analyze and provide insights about: {question}',
  'Find alternative perspectives on: {question}',
  'Verify and cross-check facts about: {question}',
  'Examine practical applications and concrete examples of: {question}',
  'Identify risks, limitations and open problems in: {question}',
  'Trace the historical context and likely future trends of: {question}',
  'Consider the stakeholders involved and their interests in: {question}',
];

/**
 * `n` distinct sub-questions for any `n`: the angles in order, then again with numbered variants
 * (the original crashed for N > 4 here).
 */
export function fallbackSubQuestions(question: string, n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const angle = FALLBACK_ANGLES[i % FALLBACK_ANGLES.length]!;
    const round = Math.floor(i / FALLBACK_ANGLES.length);
    const base = fillTemplate(angle, { question });
    out.push(
      round === 0 ? base : `${base} (variant ${round + 1}: cover what earlier passes may have missed)`,
    );
  }
  return out;
}
