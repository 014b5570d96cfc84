#!/usr/bin/env node
// text-stats: an A2A agent in Node.js, served through the A2A gRPC gateway.
//
// It implements a2a_bridge.v1.TaskService from protos/task_service.proto, loaded
// at start with @grpc/proto-loader (nothing generated, nothing copied), and the
// standard gRPC health service (grpc-health-check).
//
// Turns:
//   - "?" or empty text: TASK_STATE_INPUT_REQUIRED "Which text should I analyse?";
//     the answer (next turn, with the history) is analysed as below.
//   - "slow [N]": N progress updates (default 50) 200 ms apart, then COMPLETED; a
//     cancelled call stops at once and prints "CANCELLED <task id>".
//   - any other text: progress 25/50/75/100, an artifact "stats" in three chunks,
//     then COMPLETED "Counted N words".
//
// Extension (protocol revision 2): it declares JSON_URI in Describe. A caller that
// lists it in A2A-Extensions gets it activated (named on the first event, so the
// gateway's answer carries it in its A2A-Extensions header) and the "stats"
// artifact gets a fourth chunk: one JSON line {"words", "characters", "lines"}.
//
//   node agent.js [--host 127.0.0.1] [--port 0] [--name text-stats]
//
// Prints "AGENT <name> LISTENING <host>:<port>" once bound (port 0 picks a free
// port) and stops gracefully on SIGTERM or SIGINT.
'use strict';

const path = require('node:path');
const { parseArgs } = require('node:util');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const { HealthImplementation } = require('grpc-health-check');

const PROTO = path.resolve(__dirname, '..', '..', 'protos', 'task_service.proto');
const SERVICE = 'a2a_bridge.v1.TaskService';

const definition = protoLoader.loadSync(PROTO, {
  keepCase: false,
  enums: String,
  longs: String,
  defaults: true,
  oneofs: true,
});
const { TaskService } = grpc.loadPackageDefinition(definition).a2a_bridge.v1;

const JSON_URI = 'https://github.com/a2a-grpc-gateway/extensions/text-stats-json/v1';

const INFO = {
  name: 'text-stats',
  description: 'Counts words and characters; written in Node.js. Send "?" to be asked for text.',
  version: '1.0.0',
  skills: [
    {
      id: 'text-stats',
      name: 'Text statistics',
      description: 'Counts the words, characters and lines of a text.',
      tags: ['text', 'nodejs'],
      examples: ['The quick brown fox', '?', 'slow 20'],
    },
  ],
  defaultInputModes: ['text/plain'],
  defaultOutputModes: ['text/plain'],
  extensions: [
    {
      uri: JSON_URI,
      description: 'Adds a JSON line {"words", "characters", "lines"} to the stats artifact.',
      required: false,
    },
  ],
};

function agentMessage(text) {
  return { role: 'ROLE_AGENT', parts: [{ text }] };
}

function status(state, text, progress) {
  const update = { state };
  if (text !== undefined) update.message = agentMessage(text);
  if (progress !== undefined) update.progress = progress;
  return { status: update };
}

function textOf(message) {
  return (message?.parts ?? []).map((part) => part.text ?? '').join('');
}

function sleep(ms, call) {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    call.once('cancelled', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

// Write one event; resolves when the stream can take more (back-pressure).
function send(call, event) {
  return new Promise((resolve) => {
    if (call.write(event)) resolve();
    else call.once('drain', resolve);
  });
}

async function analyse(call, text, turn, json) {
  const words = text.split(/\s+/).filter(Boolean);
  const steps = ['Splitting words', 'Counting characters', 'Counting lines', 'Writing the report'];
  for (const [i, step] of steps.entries()) {
    if (call.cancelled) return;
    const event = status('TASK_STATE_WORKING', step, (i + 1) * 25);
    if (i === 0 && json) event.activatedExtensions = [JSON_URI];
    await send(call, event);
  }
  const artifactId = 'stats';
  const counts = { words: words.length, characters: [...text].length, lines: text.split('\n').length };
  const chunks = [
    `words: ${counts.words}\n`,
    `characters: ${counts.characters}\n`,
    `lines: ${counts.lines}\nturn: ${turn}\n`,
  ];
  if (json) chunks.push(`${JSON.stringify(counts)}\n`);
  for (const [i, chunk] of chunks.entries()) {
    await send(call, {
      artifact: {
        artifact: { artifactId, name: 'stats', parts: [{ text: chunk }] },
        append: i > 0,
        lastChunk: i === chunks.length - 1,
      },
    });
  }
  await send(call, status('TASK_STATE_COMPLETED', `Counted ${words.length} words`));
}

async function slow(call, count) {
  for (let i = 1; i <= count; i += 1) {
    if (call.cancelled) return;
    await send(call, status('TASK_STATE_WORKING', `step ${i} of ${count}`, Math.floor((i * 100) / count)));
    await sleep(200, call);
  }
  if (!call.cancelled) await send(call, status('TASK_STATE_COMPLETED', `Finished ${count} steps`));
}

async function run(call) {
  const request = call.request;
  const text = textOf(request.message).trim();
  const turn = request.history.length === 0 ? 1 : 2;
  // grpc-js sets call.cancelled before it emits 'cancelled'. It also emits 'cancelled' when
  // the stream closes after a normal end, so only a call cut short is reported.
  let ended = false;
  call.on('cancelled', () => {
    if (!ended) console.log(`CANCELLED ${request.taskId}`);
  });
  try {
    if (turn === 1 && (text === '' || text === '?')) {
      await send(call, status('TASK_STATE_INPUT_REQUIRED', 'Which text should I analyse?'));
    } else if (turn === 1 && /^slow(\s+\d+)?$/.test(text)) {
      await slow(call, Number(text.split(/\s+/)[1] ?? 50));
    } else {
      await analyse(call, text, turn, request.requestedExtensions.includes(JSON_URI));
    }
    ended = true;
    if (!call.cancelled) call.end();
  } catch (err) {
    if (!call.cancelled) call.destroy({ code: grpc.status.INTERNAL, details: String(err) });
  }
}

function describe(call, callback) {
  callback(null, INFO);
}

function main() {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '0' },
      name: { type: 'string', default: INFO.name },
    },
  });
  INFO.name = values.name;
  const health = new HealthImplementation({ '': 'NOT_SERVING', [SERVICE]: 'NOT_SERVING' });
  const server = new grpc.Server();
  server.addService(TaskService.service, { run, describe });
  health.addToServer(server);
  const host = values.host.includes(':') ? `[${values.host}]` : values.host;
  server.bindAsync(`${host}:${values.port}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      console.error(`cannot bind ${host}:${values.port}: ${err.message}`);
      process.exit(1);
    }
    health.setStatus('', 'SERVING');
    health.setStatus(SERVICE, 'SERVING');
    console.log(`AGENT ${INFO.name} LISTENING ${values.host}:${port}`);
  });
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    health.setStatus('', 'NOT_SERVING');
    health.setStatus(SERVICE, 'NOT_SERVING');
    const force = setTimeout(() => server.forceShutdown(), 5000);
    force.unref();
    server.tryShutdown(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
