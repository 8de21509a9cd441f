/** The five built-in tools with the original Make It Heavy names and parameters. */
import { calculateTool } from './calculate.ts';
import { type FileToolLimits, readFileTool, writeFileTool } from './file-tools.ts';
import { markTaskCompleteTool } from './mark-task-complete.ts';
import { type SearchOptions, searchWebTool } from './search-web.ts';
import type { ToolDefinition } from './tool.ts';

export interface BuiltinToolsOptions extends FileToolLimits {
  /** Root the file tools are confined to (absolute, or resolved against the process cwd by the caller). */
  workspace: string;
  search?: SearchOptions;
  /** Network for search_web (tests point it at local pages through `search.endpoint` instead). */
  fetchImpl?: typeof fetch;
}

/** search_web, calculate, read_file, write_file, mark_task_complete. */
export function createBuiltinTools(options: BuiltinToolsOptions): ToolDefinition[] {
  const limits: FileToolLimits = {};
  if (options.maxReadBytes !== undefined) limits.maxReadBytes = options.maxReadBytes;
  if (options.maxWriteBytes !== undefined) limits.maxWriteBytes = options.maxWriteBytes;
  return [
    searchWebTool(options.search, options.fetchImpl),
    calculateTool,
    readFileTool(options.workspace, limits),
    writeFileTool(options.workspace, limits),
    markTaskCompleteTool,
  ] as ToolDefinition[];
}
