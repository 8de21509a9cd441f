/**
 * The environment a supervised child (and its sync step) runs with. Pure.
 */
import type { EnvironmentSpec } from './environment.ts';

/**
 * The base environment, the environment file's variables, and the supervision markers ComfyGit
 * and marshal look for: `COMFYGIT_SUPERVISED=1`, `MARSHAL_SUPERVISED=1` (a supervised process asks
 * its supervisor for a switch instead of starting another one), `MARSHAL_WORKSPACE` and
 * `COMFYGIT_HOME` (the workspace root), and unbuffered Python output so log lines arrive at once.
 */
export function childEnv(
  baseEnv: Readonly<Record<string, string | undefined>>,
  spec: Pick<EnvironmentSpec, 'env'>,
  workspaceRoot: string,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(baseEnv)) if (v !== undefined) env[k] = v;
  Object.assign(env, spec.env);
  env.PYTHONUNBUFFERED ??= '1';
  env.COMFYGIT_SUPERVISED = '1';
  env.MARSHAL_SUPERVISED = '1';
  env.MARSHAL_WORKSPACE = workspaceRoot;
  env.COMFYGIT_HOME = workspaceRoot;
  return env;
}
