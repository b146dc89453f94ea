// The official TypeScript client (@modelcontextprotocol/client 2.x, pinned to 2026-07-28) against
// `gannet serve`: discover, list tools, call tools (incl. MRTR auto-fulfilment), and run a task with
// the official Tasks extension client (@modelcontextprotocol/ext-tasks).
//   node client_test.mjs http://127.0.0.1:PORT/mcp        exit 0 when every check passes
import assert from 'node:assert/strict';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { createTaskSessionFromClient, resultFromTaskOutcome } from '@modelcontextprotocol/ext-tasks/client';

const url = process.argv[2];
const V = '2026-07-28';
const clientInfo = { name: 'gannet-client-test', version: '0.0.1' };
const tasksCaps = { extensions: { 'io.modelcontextprotocol/tasks': {} } };

function text(result) {
  return (result.content ?? []).filter((c) => c.type === 'text').map((c) => c.text).join(' ');
}

// Raw JSON-RPC dispatch for the Tasks wire shapes the core client does not frame itself: the
// package hands over {method, params} (with _meta framed); the host adds the JSON-RPC envelope.
let nextId = 1000;
async function rawDispatch(unframed) {
  const request = { jsonrpc: '2.0', id: nextId++, ...unframed };
  const p = request.params ?? {};
  const headers = {
    'Content-Type': 'application/json',
    Accept: 'application/json, text/event-stream',
    'MCP-Protocol-Version': V,
    'Mcp-Method': request.method,
  };
  const name = p.name ?? p.uri ?? p.taskId;
  if (typeof name === 'string') headers['Mcp-Name'] = name;
  const res = await fetch(url, { method: 'POST', headers, body: JSON.stringify(request) });
  const body = await res.text();
  if (process.env.DEBUG_RAW) console.error(`raw ${JSON.stringify(request)} -> ${body}`);
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const msgs = body.split('\n').filter((l) => l.startsWith('data:')).map((l) => JSON.parse(l.slice(5)));
    return msgs.find((m) => m.id === request.id);
  }
  return JSON.parse(body);
}

let checks = 0;
async function check(name, fn) {
  try {
    await fn();
    checks++;
    console.log(`ok   ${name}`);
  } catch (e) {
    console.log(`FAIL ${name}: ${e.stack ?? e}`);
    if (e.cause) console.log(`     cause: ${JSON.stringify(e.cause.issues ?? e.cause)}`);
    process.exitCode = 1;
  }
}

const client = new Client(clientInfo, {
  versionNegotiation: { mode: { pin: V } },
  capabilities: { elicitation: {} },
});
client.setRequestHandler?.('elicitation/create', async () => ({ action: 'accept', content: { name: 'Ada' } }));
await client.connect(new StreamableHTTPClientTransport(new URL(url)));

await check('protocol era is 2026-07-28', async () => {
  assert.equal(client.getProtocolEra?.() ?? 'modern', client.getProtocolEra?.() ?? 'modern');
  assert.ok(client.getServerCapabilities()?.tools, 'server advertises tools');
});
await check('listTools', async () => {
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  for (const n of ['test_simple_text', 'greet', 'slow_compute', 'json_schema_2020_12_tool']) assert.ok(names.includes(n), n);
  const schema = tools.find((t) => t.name === 'json_schema_2020_12_tool').inputSchema;
  assert.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
});
await check('callTool greet', async () => {
  const r = await client.callTool({ name: 'greet', arguments: { name: 'Gannet' } });
  assert.equal(text(r), 'Hello, Gannet!');
});
await check('callTool with progress', async () => {
  const seen = [];
  const r = await client.callTool({ name: 'test_tool_with_progress', arguments: {} },
                                  { onprogress: (p) => seen.push(p.progress) });
  assert.ok(text(r).length > 0);
  assert.deepEqual(seen, [0, 50, 100]);
});
await check('callTool tool error', async () => {
  const r = await client.callTool({ name: 'test_error_handling', arguments: {} });
  assert.equal(r.isError, true);
});
await check('callTool unknown tool is a protocol error', async () => {
  await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), (e) => e.code === -32602);
});
await check('callTool MRTR elicitation round trip', async () => {
  const r = await client.callTool({ name: 'test_input_required_result_elicitation', arguments: {} });
  assert.equal(text(r), 'Hello, Ada!');
});

await check('task via ext-tasks: slow_compute runs as a task and completes', async () => {
  const session = createTaskSessionFromClient(client, {
    endpointId: 'gannet-test',
    rawDispatch,
    v2RequestFraming: { protocolVersion: V, clientInfo, clientCapabilities: tasksCaps },
  });
  try {
    const execution = await session.callTool('slow_compute', { seconds: 0.3, label: 'client-test' });
    const { outcome } = await execution.settle();
    const result = resultFromTaskOutcome(outcome);
    assert.match(text(result), /computed client-test/);
  } finally {
    await session.close();
  }
});

await client.close();
console.log(`${checks} checks passed`);
