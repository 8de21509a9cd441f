/**
 * marshal/supervisor: supervises a server (a ComfyGit environment or any server described by
 * `marshal-env.yaml`), speaking ComfyGit's orchestrator protocol under `.metadata/`.
 */

export { crashBackoffMs } from './backoff.ts';
export {
  ENV_FILE,
  EnvFileSchema,
  type EnvironmentSpec,
  type HealthCheck,
  type LoadEnvironmentOptions,
  listEnvironments,
  loadEnvironment,
  validateEnvironmentName,
} from './environment.ts';
export { SUPERVISOR_ERRORS, type SupervisorErrorCode } from './errors.ts';
export { describeEvent, type LogLevel } from './event-log.ts';
export type * from './machine-types.ts';
export * from './protocol.ts';
export { baseUrl, parseServerEndpoint, type ServerEndpoint } from './server-args.ts';
export { DEFAULTS as SUPERVISOR_DEFAULTS } from './settings.ts';
export { activeSwitch, initialState, isFinal, phaseOf, transition } from './state-machine.ts';
export { startSupervisor } from './supervisor.ts';
export type * from './supervisor-types.ts';
export { type FindWorkspaceOptions, findWorkspace, type Workspace, workspaceAt } from './workspace.ts';
