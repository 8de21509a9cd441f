/**
 * marshal-kit/supervisor: supervises a server (a ComfyGit environment or any server described by
 * `marshal-env.yaml`), speaking ComfyGit's orchestrator protocol under `.metadata/`.
 */

export { crashBackoffMs } from './backoff.ts';
export {
  STOP_WAIT_DEFAULT_MS,
  type StartDetachedOptions,
  type SupervisorClient,
  type SupervisorClientOptions,
  SWITCH_WAIT_DEFAULT_MS,
  type SwitchOutcome,
  type SwitchToOptions,
  supervisorClient,
} from './client.ts';
export type { CommandChannel, RestartOutcome, StatusReport, StopOutcome } from './client-commands.ts';
export { type ClientEnv, controlPortRange, isSupervisedProcess } from './client-context.ts';
export type { SwitchChannel, SwitchRequestOutcome } from './client-switch.ts';
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
export { cleanOutputLine, describeEvent, type LogLevel } from './event-log.ts';
export { type FollowOptions, followLines, readLastLines } from './log-follow.ts';
export type * from './machine-types.ts';
export {
  COMFYGIT_DEFAULT_CONFIG,
  loadOrchestratorConfig,
  type OrchestratorConfig,
} from './orchestrator-config.ts';
export * from './protocol.ts';
export { type ServeOptions, serveSupervisor } from './serve.ts';
export { baseUrl, parseServerEndpoint, type ServerEndpoint } from './server-args.ts';
export {
  checkSetting,
  DEFAULTS as SUPERVISOR_DEFAULTS,
  flaggedSettings,
  SETTINGS as SUPERVISOR_SETTINGS,
  type SettingName,
  type SettingSpec,
  settingsArgs,
} from './settings.ts';
export { activeSwitch, initialState, isFinal, phaseOf, transition } from './state-machine.ts';
export { startSupervisor } from './supervisor.ts';
export type * from './supervisor-types.ts';
export { openTextLog, TEXT_LOG_DEFAULTS, type TextLog } from './text-log.ts';
export { type FindWorkspaceOptions, findWorkspace, type Workspace, workspaceAt } from './workspace.ts';
