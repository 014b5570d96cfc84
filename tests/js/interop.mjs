// The official A2A JavaScript SDK (@a2a-js/sdk 1.x) as a client of the gateway.
//
//   node interop.mjs CARD_URL TRANSPORT     (TRANSPORT: JSONRPC or HTTP+JSON)
//
// Builds a client from the Agent Card with TRANSPORT preferred, runs every scenario once
// and prints one JSON line per scenario: {"scenario": NAME, ...}, results in ProtoJSON (the
// SDK's own toJSON), errors as the SDK's error class names. tests/test_interop_js_sdk.py
// reads them; this script judges nothing itself.

import { ClientFactory, ClientFactoryOptions } from "@a2a-js/sdk/client";
import {
  CancelTaskRequest,
  GetTaskRequest,
  ListTasksRequest,
  ListTasksResponse,
  SendMessageRequest,
  StreamResponse,
  SubscribeToTaskRequest,
  Task,
} from "@a2a-js/sdk";

const [cardUrl, transport] = process.argv.slice(2);

function message(text, extra = {}) {
  return SendMessageRequest.fromJSON({
    message: {
      messageId: crypto.randomUUID(),
      role: "ROLE_USER",
      parts: [{ text }],
      ...extra,
    },
  });
}

function out(scenario, fields) {
  process.stdout.write(JSON.stringify({ scenario, ...fields }) + "\n");
}

async function collect(stream, limit = Infinity) {
  const events = [];
  if (limit <= 0) return events;
  for await (const event of stream) {
    events.push(StreamResponse.toJSON(event));
    if (events.length >= limit) break;
  }
  return events;
}

async function errorName(call) {
  try {
    const value = await call();
    return { ok: value === undefined ? null : "no error" };
  } catch (error) {
    return { error: error.name, message: error.message };
  }
}

const options = ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
  preferredTransports: [transport],
});
const client = await new ClientFactory(options).createFromUrl(cardUrl, "");
out("transport", { protocol: client.transport.protocolName ?? null });

const streamed = await collect(client.sendMessageStream(message("steps 3")));
out("stream", { events: streamed });

const first = streamed[0].task;
out("get", { task: Task.toJSON(await client.getTask(GetTaskRequest.fromJSON({ id: first.id, historyLength: 1 }))) });

const listed = await client.listTasks(
  ListTasksRequest.fromJSON({ contextId: first.contextId, pageSize: 10 }),
);
out("list", { response: ListTasksResponse.toJSON(listed) });

const blocking = await client.sendMessage(message("steps 2"));
out("blocking", { task: Task.toJSON(blocking) });

{
  const stream = client.sendMessageStream(message("hang"));
  const iterator = stream[Symbol.asyncIterator]();
  const head = [];
  for (let i = 0; i < 2; i++) head.push(StreamResponse.toJSON((await iterator.next()).value));
  const canceled = await client.cancelTask(CancelTaskRequest.fromJSON({ id: head[0].task.id }));
  const rest = [];
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    rest.push(StreamResponse.toJSON(next.value));
  }
  out("cancel", { head, canceled: Task.toJSON(canceled), rest });
}

{
  const asked = await collect(client.sendMessageStream(message("ask")));
  const task = asked[0].task;
  const again = await collect(
    client.sendMessageStream(message("ask again", { taskId: task.id, contextId: task.contextId })),
  );
  out("multiTurn", { first: asked, second: again });
}

{
  const stream = client.sendMessageStream(message("steps 5 200"));
  const iterator = stream[Symbol.asyncIterator]();
  const head = [];
  for (let i = 0; i < 2; i++) head.push(StreamResponse.toJSON((await iterator.next()).value));
  const subscribed = await collect(client.resubscribeTask(SubscribeToTaskRequest.fromJSON({ id: head[0].task.id })));
  const rest = [];
  for (let next = await iterator.next(); !next.done; next = await iterator.next()) {
    rest.push(StreamResponse.toJSON(next.value));
  }
  out("subscribe", { original: [...head, ...rest], subscribed });
}

out("errors", {
  getUnknown: await errorName(() => client.getTask(GetTaskRequest.fromJSON({ id: "no-such-task" }))),
  cancelFinished: await errorName(() => client.cancelTask(CancelTaskRequest.fromJSON({ id: first.id }))),
  subscribeFinished: await errorName(() => collect(client.resubscribeTask(SubscribeToTaskRequest.fromJSON({ id: first.id })), 1)),
});
