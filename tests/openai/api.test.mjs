// The rest of the OpenAI API end to end through the official `openai` client against a real
// `gannet serve` on a tiny fixture model: /v1/embeddings (client.embeddings.create: base64 and float
// forms, determinism, normalisation, batching, token-id input, 400s), the Responses API
// (client.responses.create, plain and streamed, tools, text.format) and request validation.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import OpenAI from 'openai';

const BIN = process.env.GANNET_BINARY;
const MODEL = join(process.env.GANNET_SOURCE, 'tests/fixtures/models/llama-f32.gguf');
const MODEL_NAME = 'llama-f32';
let proc, base, client;

before(async () => {
  proc = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '--ctx', '256', '--kv-blocks', '512', '--deterministic'],
               { stdio: ['ignore', 'pipe', 'inherit'] });
  base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => reject(new Error('server exited ' + code + ': ' + out)));
  });
  client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0 });
});

after(() => { if (proc) proc.kill('SIGTERM'); });

// A 4xx from the client: its status, and the OpenAI error's param.
async function rejects(promise, status, param) {
  await assert.rejects(promise, (e) => {
    assert.equal(e.status, status, e.message);
    if (param !== undefined) assert.equal(e.param, param, e.message);
    return true;
  });
}

async function post(path, body) {
  const r = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                       body: JSON.stringify(body) });
  return { status: r.status, body: await r.json() };
}

const norm = (v) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);

// ---- /v1/embeddings ----

test('embeddings: the client (base64 by default) gets unit vectors of the model width, deterministic', async () => {
  const a = await client.embeddings.create({ model: MODEL_NAME, input: 'the cat sat on the mat' });
  assert.equal(a.object, 'list');
  assert.equal(a.model, MODEL_NAME);
  assert.equal(a.data.length, 1);
  assert.equal(a.data[0].object, 'embedding');
  assert.equal(a.data[0].index, 0);
  const v = a.data[0].embedding;
  assert.equal(v.length, 64);  // llama-f32's n_embd
  assert.ok(Math.abs(norm(v) - 1) < 1e-5, 'norm ' + norm(v));
  assert.ok(a.usage.prompt_tokens > 1);
  assert.equal(a.usage.total_tokens, a.usage.prompt_tokens);
  const again = await client.embeddings.create({ model: MODEL_NAME, input: 'the cat sat on the mat' });
  assert.deepEqual(again.data[0].embedding, v);
  // The float form carries the same numbers as the base64 bytes.
  const f = await client.embeddings.create({ model: MODEL_NAME, input: 'the cat sat on the mat',
                                             encoding_format: 'float' });
  assert.equal(f.data[0].embedding.length, 64);
  for (let i = 0; i < 64; ++i) assert.ok(Math.abs(f.data[0].embedding[i] - v[i]) < 1e-6, 'component ' + i);
});

test('embeddings: different inputs differ; a batch equals its inputs one by one', async () => {
  const texts = ['hello world', 'once upon a time', 'zebra'];
  const batch = await client.embeddings.create({ model: MODEL_NAME, input: texts });
  assert.equal(batch.data.length, 3);
  let n_tokens = 0;
  for (let i = 0; i < texts.length; ++i) {
    assert.equal(batch.data[i].index, i);
    const one = await client.embeddings.create({ model: MODEL_NAME, input: texts[i] });
    assert.deepEqual(batch.data[i].embedding, one.data[0].embedding);
    n_tokens += one.usage.prompt_tokens;
  }
  assert.equal(batch.usage.prompt_tokens, n_tokens);
  const [x, y, z] = batch.data.map((d) => d.embedding);
  assert.ok(dot(x, y) < 0.9999 && dot(y, z) < 0.9999 && dot(x, z) < 0.9999, 'cosines ' + [dot(x, y), dot(y, z)]);
});

test('embeddings: token-id input, and the 400s that name the parameter', async () => {
  const t = await client.embeddings.create({ model: MODEL_NAME, input: [[1, 2, 3], [7, 8]] });
  assert.equal(t.data.length, 2);
  assert.equal(t.usage.prompt_tokens, 5);
  const single = await client.embeddings.create({ model: MODEL_NAME, input: [1, 2, 3] });
  assert.deepEqual(single.data[0].embedding, t.data[0].embedding);
  const ok = await client.embeddings.create({ model: MODEL_NAME, input: 'x', dimensions: 64 });
  assert.equal(ok.data[0].embedding.length, 64);
  await rejects(client.embeddings.create({ model: MODEL_NAME, input: 'x', dimensions: 32 }), 400, 'dimensions');
  await rejects(client.embeddings.create({ model: MODEL_NAME, input: [[1], 'x'] }), 400, 'input[1]');
  await rejects(client.embeddings.create({ model: MODEL_NAME, input: [100000] }), 400, 'input');
  await rejects(client.embeddings.create({ model: MODEL_NAME, input: '' }), 400, 'input');
  await rejects(client.embeddings.create({ model: MODEL_NAME, input: [] }), 400, 'input');
  await rejects(client.embeddings.create({ model: MODEL_NAME, input: 'x', encoding_format: 'int8' }), 400,
                'encoding_format');
  await rejects(client.embeddings.create({ model: 'nope', input: 'x' }), 404, 'model');
  const long = await post('/v1/embeddings', { model: MODEL_NAME, input: Array(300).fill(5) });
  assert.equal(long.status, 400);
  assert.equal(long.body.error.code, 'context_length_exceeded');
  const unknown = await post('/v1/embeddings', { model: MODEL_NAME, input: 'x', pooling: 'max' });
  assert.equal(unknown.status, 400);
  assert.equal(unknown.body.error.param, 'pooling');
});
