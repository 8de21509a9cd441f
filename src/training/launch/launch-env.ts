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
    if (p.argv[0] === 'mlx.launch') {
      const end = p.argv.indexOf('--');
      const words = Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]);
      p.argv.splice(end < 0 ? p.argv.length : end, 0, ...words);
    }
  }
  return copy;
}
