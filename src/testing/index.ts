/** marshal-kit/testing: public test doubles for the agents subsystem. */
export {
  type FakeOpenAIServer,
  type FakeReply,
  type FakeScript,
  type FakeServerOptions,
  type RecordedRequest,
  startFakeOpenAIServer,
} from './fake-openai-server.ts';
export type { FakeStreamShape } from './fake-sse.ts';
export {
  createScriptedModel,
  type RecordedChatRequest,
  type ScriptedModel,
  type ScriptedReplies,
  type ScriptedReply,
} from './scripted-model.ts';
