/**
 * The built-in tools with the original Make It Heavy names and parameters. write_file is offered
 * only when the user enabled it (`allowWrite`): text the model read may be an attacker's.
 */
import { calculateTool } from './calculate.ts';
import { type FileToolLimits, readFileTool, writeFileTool } from './file-tools.ts';
import { markTaskCompleteTool } from './mark-task-complete.ts';
import { type SearchOptions, searchWebTool } from './search-web.ts';
import type { ToolDefinition } from './tool.ts';

export interface BuiltinToolsOptions extends FileToolLimits {
  /** Root the file tools are confined to (absolute, or resolved against the process cwd by the caller). */
  workspace: string;
  /** Offer write_file (`--allow-write`, config `tools.allowWrite`). Default false. */
  allowWrite?: boolean;
  search?: SearchOptions;
}

/** search_web, calculate, read_file, write_file (only with `allowWrite`), mark_task_complete. */
export function createBuiltinTools(options: BuiltinToolsOptions): ToolDefinition[] {
  const limits: FileToolLimits = {};
  if (options.maxReadBytes !== undefined) limits.maxReadBytes = options.maxReadBytes;
  if (options.maxWriteBytes !== undefined) limits.maxWriteBytes = options.maxWriteBytes;
  if (options.allowSecretFiles !== undefined) limits.allowSecretFiles = options.allowSecretFiles;
  return [
    searchWebTool(options.search),
    calculateTool,
    readFileTool(options.workspace, limits),
    ...(options.allowWrite === true ? [writeFileTool(options.workspace, limits)] : []),
    markTaskCompleteTool,
  ] as ToolDefinition[];
}
