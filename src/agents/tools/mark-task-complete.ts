/** `mark_task_complete {task_summary, completion_message}`: the explicit end-of-task signal. */
import { z } from 'zod';
import type { ToolDefinition } from './tool.ts';

const parameters = z.strictObject({
  task_summary: z.string().describe('A brief summary of what was accomplished'),
  completion_message: z.string().describe('The final answer or message for the user'),
});

/**
 * Calling it ends the agent: the reply's text is the answer, or `completion_message` when the
 * reply has no text. (Answering without tool calls ends the agent too.)
 */
export const markTaskCompleteTool: ToolDefinition<z.infer<typeof parameters>> = {
  name: 'mark_task_complete',
  description:
    "REQUIRED: Call this tool when the user's original request has been fully satisfied and you have provided a complete answer. " +
    'Put the final answer in completion_message.',
  parameters,
  async execute({ task_summary, completion_message }) {
    return JSON.stringify({
      status: 'completed',
      task_summary,
      completion_message,
      timestamp: new Date().toISOString(),
    });
  },
};
