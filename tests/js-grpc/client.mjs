// The official @a2a-js/sdk 1.x client over the gateway's gRPC binding, driven by
// tests/test_grpc_js.py: `node client.mjs AGENT_URL` prints one JSON object of what it saw.
// The client reads the Agent Card over HTTP, picks the GRPC interface (and its tenant)
// and speaks lf.a2a.v1.A2AService through @grpc/grpc-js.
import { randomUUID } from 'node:crypto';
import { ClientFactory, ClientFactoryOptions } from '@a2a-js/sdk/client';
import { GrpcTransportFactory } from '@a2a-js/sdk/client/grpc';
import { Role, TaskState } from '@a2a-js/sdk';

const agentUrl = process.argv[2];

function message(text, fields = {}) {
  return {
    messageId: randomUUID(), contextId: '', taskId: '', role: Role.ROLE_USER,
    parts: [{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: '' }],
    metadata: undefined, extensions: [], referenceTaskIds: [], ...fields,
  };
}

function request(text, configuration = undefined, fields = {}) {
  return { tenant: '', message: message(text, fields), configuration, metadata: undefined };
}

function describe(event) {
  const { $case, value } = event.payload;
  if ($case === 'task') return `task ${TaskState[value.status.state]}`;
  if ($case === 'statusUpdate') return `status ${TaskState[value.status.state]}`;
  if ($case === 'artifactUpdate') return `artifact ${value.artifact.artifactId}`;
  return $case;
}

async function collect(stream) {
  const out = [];
  for await (const event of stream) out.push(event);
  return out;
}

const options = ClientFactoryOptions.createFrom(ClientFactoryOptions.default, {
  transports: [new GrpcTransportFactory()],
  preferredTransports: ['GRPC'],
});
const client = await new ClientFactory(options).createFromUrl(agentUrl);
const out = {};

const streamed = await collect(client.sendMessageStream(request('steps 3')));
out.stream = streamed.map(describe);
const taskId = streamed[0].payload.value.id;
const task = await client.getTask({ tenant: '', id: taskId, historyLength: undefined });
out.get = { id: task.id === taskId, state: TaskState[task.status.state] };
const page = await client.listTasks({
  tenant: '', contextId: task.contextId, status: TaskState.TASK_STATE_UNSPECIFIED, pageSize: 10,
  pageToken: '', historyLength: undefined, statusTimestampAfter: undefined,
  includeArtifacts: undefined,
});
out.list = page.tasks.map((t) => t.id === taskId);

const asked = await collect(client.sendMessageStream(request('ask')));
const askedTask = asked[0].payload.value;
const answered = await collect(client.sendMessageStream(
  request('answer js', undefined, { taskId: askedTask.id, contextId: askedTask.contextId })));
out.multiTurn = [...asked, ...answered].map(describe);

const hang = await client.sendMessage(request('hang', {
  acceptedOutputModes: [], historyLength: undefined, returnImmediately: true,
  taskPushNotificationConfig: undefined,
}));
const hangId = hang.id; // a Task (SendMessageResult is Message | Task)
const subscription = client.resubscribeTask({ tenant: '', id: hangId });
const head = await subscription.next();
const canceled = await client.cancelTask({ tenant: '', id: hangId, metadata: undefined });
const rest = [];
for await (const event of subscription) rest.push(event);
out.subscribe = [describe(head.value), ...rest.map(describe)];
out.cancel = TaskState[canceled.status.state];

try {
  await client.getTask({ tenant: '', id: 'no-such-task', historyLength: undefined });
  out.notFound = 'no error';
} catch (error) {
  out.notFound = error.constructor.name;
}
console.log(JSON.stringify(out));
process.exit(0);
