/**
 * Launch-time variables (pure): what every rank gets at launch rather than at planning, because it
 * changes from one attempt to the next (the attempt number) or belongs to the run rather than the
 * sealed commands (the checkpoint directory, so plans made before it existed get it too).
 *
 * - MARSHAL_CHECKPOINT_DIR: the plan's `checkpoint_strategy.dir` (empty when checkpoints are off);
 * - MARSHAL_RESTART_ATTEMPT: 0 for the first attempt, then 1, 2... after `maxRestarts` restarts.
 *
 * They are added to every process's env: direct and torchrun processes carry their env to the node
 * (torchrun's workers inherit it); mpirun forwards them with `-x` (commands.ts lists
 * {@link LAUNCH_ENV_NAMES} with the plan's variables); mlx.launch gets `--env K=V` words before
 * its `--`, as the planned variables are.
 */
import type { Plan } from '../plan-schema.ts';

/** The variables added at launch, in the order they are added. */
export const LAUNCH_ENV_NAMES = ['MARSHAL_CHECKPOINT_DIR', 'MARSHAL_RESTART_ATTEMPT'] as const;

/** The launch-time variables of one attempt. */
export function launchEnv(plan: Plan, attempt: number): Record<(typeof LAUNCH_ENV_NAMES)[number], string> {
  const c = plan.checkpoint_strategy;
  return {
    MARSHAL_CHECKPOINT_DIR: c.enabled && c.dir ? c.dir : '',
    MARSHAL_RESTART_ATTEMPT: String(attempt),
  };
}

/** A copy of `plan` whose processes carry `env` as well (the plan itself is left as sealed). */
export function withLaunchEnv(plan: Plan, env: Readonly<Record<string, string>>): Plan {
  const copy = structuredClone(plan);
  for (const p of copy.distributed_config.processes) {
    Object.assign(p.env, env);
    p.argv = withMlxEnv(p.argv, env);
  }
  return copy;
}

/**
 * An `mlx.launch` argv with `--env K=V` words for `env` added before its `--` (the words after it
 * are the rank's command): how a variable known only at launch, such as MARSHAL_PLAN, reaches the
 * ssh ranks (commands.ts mlxLaunch). Any other argv is returned unchanged.
 */
export function withMlxEnv(argv: readonly string[], env: Readonly<Record<string, string>>): string[] {
  if (argv[0] !== 'mlx.launch') return [...argv];
  const end = argv.indexOf('--');
  const at = end < 0 ? argv.length : end;
  const words = Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
  return [...argv.slice(0, at), ...words, ...argv.slice(at)];
}
