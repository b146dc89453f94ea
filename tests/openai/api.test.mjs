// The rest of the OpenAI API end to end through the official `openai` client against a real
// `gannet serve` on a tiny fixture model: /v1/embeddings (client.embeddings.create: base64 and float
// forms, determinism, normalisation, batching, token-id input, 400s), the Responses API
// (client.responses.create, plain and streamed, tools, text.format, storage, logprobs), request
// validation, echo / best_of, embeddings under --budgets and random-value robustness (no 5xx).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const BIN = process.env.GANNET_BINARY;
const MODEL = join(process.env.GANNET_SOURCE, 'tests/fixtures/models/llama-f32.gguf');
const MODEL_NAME = 'llama-f32';
let proc, base, client;

// Starts `gannet serve` with extra flags; resolves to [process, base URL].
async function serve(extra) {
  const p = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '--ctx', '256', '--kv-blocks', '512', ...extra],
                  { stdio: ['ignore', 'pipe', 'inherit'] });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 30000);
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    p.on('exit', (code) => reject(new Error('server exited ' + code + ': ' + out)));
  });
  return [p, url];
}

before(async () => {
  [proc, base] = await serve(['--deterministic']);
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

// ---- /v1/responses ----

const WEATHER = {
  type: 'function', name: 'get_weather', description: 'Weather of a city',
  parameters: { type: 'object', properties: { city: { enum: ['Paris', 'Rome'] } }, required: ['city'],
                additionalProperties: false },
};

test('responses: text output equals the chat completion of the same conversation', async () => {
  const r = await client.responses.create({ model: MODEL_NAME, instructions: 'You are terse.', input: 'hello there',
                                            max_output_tokens: 8, temperature: 0, metadata: { run: 'a' } });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.ok(['completed', 'incomplete'].includes(r.status));
  assert.equal(r.model, MODEL_NAME);
  assert.equal(r.instructions, 'You are terse.');
  assert.deepEqual(r.metadata, { run: 'a' });
  assert.equal(r.store, true);  // OpenAI's default: kept for previous_response_id
  assert.equal(r.output.length, 1);
  assert.equal(r.output[0].type, 'message');
  assert.equal(r.output[0].role, 'assistant');
  assert.equal(r.output[0].content[0].type, 'output_text');
  assert.equal(r.output_text, r.output[0].content[0].text);  // the client's own helper reads our shape
  assert.ok(r.usage.input_tokens > 0 && r.usage.output_tokens <= 8);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + r.usage.output_tokens);
  if (r.status === 'incomplete') assert.equal(r.incomplete_details.reason, 'max_output_tokens');
  const chat = await client.chat.completions.create({
    model: MODEL_NAME, max_tokens: 8, temperature: 0,
    messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: 'hello there' }] });
  assert.equal(r.output_text, chat.choices[0].message.content);
  assert.equal(r.usage.input_tokens, chat.usage.prompt_tokens);
  // Message items with content parts are the same conversation.
  const items = await client.responses.create({
    model: MODEL_NAME, max_output_tokens: 8, temperature: 0,
    input: [{ role: 'system', content: 'You are terse.' },
            { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hello ' },
                                                        { type: 'input_text', text: 'there' }] }] });
  assert.equal(items.output_text, r.output_text);
});

test('responses: stream sends the official event sequence, numbered, with the same text', async () => {
  const params = { model: MODEL_NAME, input: 'tell me a story', max_output_tokens: 10, temperature: 0 };
  const whole = await client.responses.create(params);
  const stream = await client.responses.create({ ...params, stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  const types = events.map((e) => e.type);
  assert.deepEqual(types.slice(0, 4), ['response.created', 'response.in_progress', 'response.output_item.added',
                                       'response.content_part.added']);
  const last = types.length - 1;
  assert.deepEqual(types.slice(last - 3), ['response.output_text.done', 'response.content_part.done',
                                           'response.output_item.done',
                                           whole.status === 'completed' ? 'response.completed' : 'response.incomplete']);
  assert.ok(types.slice(4, last - 3).every((t) => t === 'response.output_text.delta'));
  events.forEach((e, i) => assert.equal(e.sequence_number, i));
  assert.equal(events[0].response.status, 'in_progress');
  const text = events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join('');
  assert.equal(text, whole.output_text);
  assert.equal(events[last - 3].text, whole.output_text);
  assert.equal(events[last].response.output[0].content[0].text, whole.output_text);
  assert.equal(events[last].response.usage.output_tokens, whole.usage.output_tokens);
});

test('responses: a forced function call, its output sent back as items, and the streamed call', async () => {
  const r = await client.responses.create({ model: MODEL_NAME, input: 'weather in Paris?', tools: [WEATHER],
                                            tool_choice: { type: 'function', name: 'get_weather' },
                                            max_output_tokens: 60, temperature: 0 });
  const calls = r.output.filter((o) => o.type === 'function_call');
  assert.equal(calls.length, 1, JSON.stringify(r.output));
  assert.equal(calls[0].name, 'get_weather');
  assert.match(calls[0].call_id, /^call_/);
  assert.ok(['Paris', 'Rome'].includes(JSON.parse(calls[0].arguments).city), calls[0].arguments);
  const next = await client.responses.create({
    model: MODEL_NAME, tools: [WEATHER], max_output_tokens: 6, temperature: 0,
    input: [{ role: 'user', content: 'weather in Paris?' }, calls[0],
            { type: 'function_call_output', call_id: calls[0].call_id, output: 'sunny, 21 C' }] });
  assert.equal(next.object, 'response');
  assert.ok(next.usage.input_tokens > r.usage.input_tokens);
  const stream = await client.responses.create({ model: MODEL_NAME, input: 'weather in Paris?', tools: [WEATHER],
                                                 tool_choice: 'required', max_output_tokens: 60, temperature: 0,
                                                 stream: true });
  const events = [];
  for await (const ev of stream) events.push(ev);
  const done = events.find((e) => e.type === 'response.function_call_arguments.done');
  assert.ok(done, events.map((e) => e.type).join(','));
  assert.ok(['Paris', 'Rome'].includes(JSON.parse(done.arguments).city));
  const added = events.find((e) => e.type === 'response.output_item.added' && e.item.type === 'function_call');
  assert.equal(added.item.name, 'get_weather');
  assert.equal(events.at(-1).type, 'response.completed');
});

test('responses: text.format json_schema strict gives schema-valid JSON', async () => {
  const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'integer', minimum: 0,
                                                                               maximum: 9 } },
                   required: ['ok', 'n'], additionalProperties: false };
  for (const seed of [1, 2, 3]) {
    const r = await post('/v1/responses', { model: MODEL_NAME, input: 'answer', max_output_tokens: 40,
                                            text: { format: { type: 'json_schema', name: 'a', schema, strict: true } },
                                            temperature: 1 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const v = JSON.parse(r.body.output[0].content[0].text);
    assert.equal(typeof v.ok, 'boolean');
    assert.ok(Number.isInteger(v.n) && v.n >= 0 && v.n <= 9);
    assert.deepEqual(Object.keys(v).sort(), ['n', 'ok']);
    assert.equal(r.body.text.format.type, 'json_schema');
  }
});

test('responses: 400s name the Responses parameter', async () => {
  const base_req = { model: MODEL_NAME, input: 'x' };
  await rejects(client.responses.create({ ...base_req, previous_response_id: 'resp_1' }), 400, 'previous_response_id');
  await rejects(client.responses.create({ ...base_req, store: 'yes' }), 400, 'store');
  await rejects(client.responses.create({ ...base_req, truncation: 'auto' }), 400, 'truncation');
  await rejects(client.responses.create({ ...base_req, reasoning: { effort: 'high' } }), 400, 'reasoning');
  await rejects(client.responses.create({ ...base_req, include: ['file_search_call.results'] }), 400, 'include[0]');
  await rejects(client.responses.create({ ...base_req, tools: [{ type: 'web_search_preview' }] }), 400, 'tools[0].type');
  await rejects(client.responses.create({ ...base_req, temperature: 'hot' }), 400, 'temperature');
  await rejects(client.responses.create({ ...base_req, max_output_tokens: 0 }), 400, 'max_output_tokens');
  await rejects(client.responses.create({ ...base_req, text: { format: { type: 'yaml' } } }), 400, 'text.format.type');
  await rejects(client.responses.create({ model: MODEL_NAME, input: [{ role: 'user', content: [
    { type: 'input_image', image_url: 'data:,' }] }] }), 400, 'input[0].content[0].type');
  await rejects(client.responses.create({ model: MODEL_NAME, input: [{ type: 'reasoning', summary: [] }] }), 400,
                'input[0].type');
  await rejects(client.responses.create({ model: MODEL_NAME, input: 5 }), 400, 'input');
  await rejects(client.responses.create({ model: 'nope', input: 'x' }), 404, 'model');
  const big = await post('/v1/responses', { ...base_req, max_output_tokens: 100000 });
  assert.equal(big.status, 400);
  assert.equal(big.body.error.code, 'context_length_exceeded');
});

// ---- request validation by the JSON Schema validator (src/server/request_schema.cc) ----

test('validation: wrong types are 400s naming the field path, on every route', async () => {
  const cases = [
    ['/v1/chat/completions', { model: MODEL_NAME, messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    ['/v1/chat/completions', { model: MODEL_NAME, messages: [{ role: 'user', content: 'x' }],
                               response_format: { type: 'json_schema', json_schema: { name: 'a', strict: 'yes' } } },
     'response_format.json_schema.strict'],
    ['/v1/chat/completions', { model: MODEL_NAME, messages: [{ content: 'x' }] }, 'messages[0].role'],
    ['/v1/completions', { model: MODEL_NAME, prompt: 'x', logit_bias: { 5: 'up' } }, 'logit_bias.5'],
    ['/v1/embeddings', { model: MODEL_NAME, input: [[1, 'x']] }, 'input[0][1]'],
    ['/v1/responses', { model: MODEL_NAME, input: 'x', metadata: { a: 1 } }, 'metadata.a'],
    ['/v1/responses', { model: MODEL_NAME, input: [{ role: 'user', content: [{ type: 'input_text', text: 1 }] }] },
     'input[0].content[0].text'],
  ];
  for (const [path, body, param] of cases) {
    const r = await post(path, body);
    assert.equal(r.status, 400, path + ' ' + JSON.stringify(r.body));
    assert.equal(r.body.error.type, 'invalid_request_error');
    assert.equal(r.body.error.param, param, JSON.stringify(r.body));
    assert.ok(r.body.error.message.includes(`'${param}'`), r.body.error.message);
  }
});

// ---- /v1/completions: echo and best_of ----

test('completions: echo puts the prompt before the text, streamed or not', async () => {
  const params = { model: MODEL_NAME, prompt: 'once upon a', max_tokens: 5, temperature: 0, ignore_eos: true };
  const plain = await client.completions.create(params);
  const echoed = await client.completions.create({ ...params, echo: true });
  assert.equal(echoed.choices[0].text, 'once upon a' + plain.choices[0].text);
  assert.equal(echoed.usage.completion_tokens, 5);
  const stream = await client.completions.create({ ...params, echo: true, stream: true });
  let text = '';
  for await (const c of stream) text += c.choices.length ? c.choices[0].text : '';
  assert.equal(text, echoed.choices[0].text);
});

test('completions: echo with logprobs scores the prompt too, as the engine would', async () => {
  const params = { model: MODEL_NAME, prompt: 'once upon a', max_tokens: 3, temperature: 0, ignore_eos: true,
                   logprobs: 2 };
  const plain = await client.completions.create(params);
  const echoed = await client.completions.create({ ...params, echo: true });
  const lp = echoed.choices[0].logprobs;
  const n_prompt = lp.tokens.length - 3;
  assert.equal(n_prompt, echoed.usage.prompt_tokens);  // this vocabulary adds no BOS: every token is listed
  assert.equal(lp.tokens.slice(0, n_prompt).join(''), 'once upon a');
  assert.equal(lp.token_logprobs[0], null);  // nothing predicts the first token
  assert.equal(lp.top_logprobs[0], null);
  for (let i = 1; i < n_prompt; ++i) {
    assert.ok(lp.token_logprobs[i] < 0 && Number.isFinite(lp.token_logprobs[i]), i + ': ' + lp.token_logprobs[i]);
    assert.equal(Object.keys(lp.top_logprobs[i]).length > 0, true);
  }
  assert.deepEqual(lp.token_logprobs.slice(n_prompt), plain.choices[0].logprobs.token_logprobs);
  // The distribution that scored the last prompt token (" a") is the one the engine samples from
  // after "once upon": the same top logprobs.
  const before = await client.completions.create({ ...params, prompt: 'once upon', max_tokens: 1 });
  const mine = Object.values(lp.top_logprobs[n_prompt - 1]).sort();
  const engine = Object.values(before.choices[0].logprobs.top_logprobs[0]).sort();
  assert.equal(mine.length, engine.length);
  for (let i = 0; i < mine.length; ++i) assert.ok(Math.abs(mine[i] - engine[i]) < 1e-4, mine + ' vs ' + engine);
  // Streamed, the first chunk carries the prompt and its logprobs.
  const stream = await client.completions.create({ ...params, echo: true, stream: true });
  let text = '', n_tokens = 0;
  for await (const c of stream) {
    if (!c.choices.length) continue;
    text += c.choices[0].text;
    n_tokens += c.choices[0].logprobs ? c.choices[0].logprobs.tokens.length : 0;
  }
  assert.equal(text, echoed.choices[0].text);
  assert.equal(n_tokens, lp.tokens.length);
});

test('completions: best_of returns the candidate of the highest mean logprob', async () => {
  const params = { model: MODEL_NAME, prompt: 'the', max_tokens: 4, temperature: 1, seed: 11, ignore_eos: true };
  // The same seeds: candidate i of best_of is choice i of n (seed + i), so its ranking can be checked.
  const all = await client.completions.create({ ...params, n: 4, logprobs: 0 });
  const mean = (c) => c.logprobs.token_logprobs.reduce((s, x) => s + x, 0) / c.logprobs.token_logprobs.length;
  const ranked = all.choices.slice().sort((a, b) => mean(b) - mean(a));
  const best = await client.completions.create({ ...params, n: 2, best_of: 4 });
  assert.equal(best.choices.length, 2);
  assert.deepEqual(best.choices.map((c) => c.index), [0, 1]);
  assert.equal(best.choices[0].text, ranked[0].text);
  assert.equal(best.choices[1].text, ranked[1].text);
  assert.equal(best.choices[0].logprobs, null);  // ranked by logprobs, returned only when asked
  assert.equal(best.usage.completion_tokens, 16);  // every candidate is generated
  await rejects(client.completions.create({ ...params, best_of: 2, stream: true }), 400, 'best_of');
  await rejects(client.completions.create({ ...params, n: 3, best_of: 2 }), 400, 'best_of');
});

test('responses: stored by default; previous_response_id continues the conversation; retrieve and delete', async () => {
  const gen = { model: MODEL_NAME, max_output_tokens: 5, temperature: 0 };
  const r1 = await client.responses.create({ ...gen, input: 'hello', instructions: 'Be brief.' });
  assert.equal(r1.store, true);
  const got = await client.responses.retrieve(r1.id);
  assert.equal(got.id, r1.id);
  assert.deepEqual(got.output, r1.output);
  const r2 = await client.responses.create({ ...gen, input: 'and then?', previous_response_id: r1.id });
  assert.equal(r2.previous_response_id, r1.id);
  // The stored turns without r1's instructions (they do not carry over), then the new input.
  const chat = await client.chat.completions.create({
    model: MODEL_NAME, max_tokens: 5, temperature: 0,
    messages: [{ role: 'user', content: 'hello' }, { role: 'assistant', content: r1.output_text },
               { role: 'user', content: 'and then?' }] });
  assert.equal(r2.output_text, chat.choices[0].message.content);
  assert.equal(r2.usage.input_tokens, chat.usage.prompt_tokens);
  // A tool call's output answers it by call_id across responses.
  const call = await client.responses.create({ ...gen, max_output_tokens: 60, input: 'weather in Rome?',
                                               tools: [WEATHER], tool_choice: 'required' });
  const fc = call.output.find((o) => o.type === 'function_call');
  assert.ok(fc, JSON.stringify(call.output));
  const answer = await client.responses.create({ ...gen, tools: [WEATHER], previous_response_id: call.id,
    input: [{ type: 'function_call_output', call_id: fc.call_id, output: 'rainy' }] });
  assert.ok(answer.usage.input_tokens > call.usage.input_tokens);
  const deleted = await client.responses.del(r1.id);
  assert.deepEqual(deleted, { id: r1.id, object: 'response.deleted', deleted: true });
  await rejects(client.responses.retrieve(r1.id), 404);
  await rejects(client.responses.del(r1.id), 404);
  await rejects(client.responses.create({ ...gen, input: 'x', previous_response_id: r1.id }), 400, 'previous_response_id');
  const unstored = await client.responses.create({ ...gen, input: 'x', store: false });
  assert.equal(unstored.store, false);
  await rejects(client.responses.retrieve(unstored.id), 404);
  const q = await fetch(base + '/v1/responses/' + r2.id + '?stream=true');
  assert.equal(q.status, 400);
});

test('embeddings: billed as prompt tokens under --budgets', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gannet-api-'));
  writeFileSync(join(dir, 'budgets.json'), JSON.stringify({ budgets: [{ name: 'a', key: 'sk-a-000001', tokens: 20 }] }));
  const [p, url] = await serve(['--budgets', join(dir, 'budgets.json'), '--store', `sqlite:${dir}/ledger.db`]);
  try {
    const keyed = new OpenAI({ baseURL: url + '/v1', apiKey: 'sk-a-000001', maxRetries: 0 });
    const first = await keyed.embeddings.create({ model: MODEL_NAME, input: 'hello world, how' });
    const spent = first.usage.prompt_tokens;
    assert.ok(spent > 10 && spent <= 20, 'tokens ' + spent);
    const b = await (await fetch(url + '/v1/budget', { headers: { Authorization: 'Bearer sk-a-000001' } })).json();
    assert.equal(b.spent_tokens, spent);
    assert.equal(b.reserved_tokens, 0);
    await rejects(keyed.embeddings.create({ model: MODEL_NAME, input: 'hello world, how' }), 429);
    const anon = new OpenAI({ baseURL: url + '/v1', apiKey: 'sk-nope', maxRetries: 0 });
    await rejects(anon.embeddings.create({ model: MODEL_NAME, input: 'x' }), 401);
  } finally {
    p.kill('SIGTERM');
  }
});

test('responses: include message.output_text.logprobs gives chat\'s logprobs, streamed too', async () => {
  const params = { model: MODEL_NAME, input: 'hello there', max_output_tokens: 5, temperature: 0,
                   include: ['message.output_text.logprobs'], top_logprobs: 2 };
  const r = await client.responses.create(params);
  const lps = r.output[0].content[0].logprobs;
  assert.equal(lps.length, r.usage.output_tokens);
  const chat = await client.chat.completions.create({ model: MODEL_NAME, max_tokens: 5, temperature: 0,
    messages: [{ role: 'user', content: 'hello there' }], logprobs: true, top_logprobs: 2 });
  assert.deepEqual(lps.map((l) => [l.token, l.logprob, l.top_logprobs.length]),
                   chat.choices[0].logprobs.content.map((l) => [l.token, l.logprob, 2]));
  const stream = await client.responses.create({ ...params, stream: true });
  const streamed = [];
  for await (const ev of stream) if (ev.type === 'response.output_text.delta') streamed.push(...ev.logprobs);
  assert.deepEqual(streamed.map((l) => l.logprob), lps.map((l) => l.logprob));
  await rejects(client.responses.create({ model: MODEL_NAME, input: 'x', top_logprobs: 2 }), 400, 'top_logprobs');
});

test('robustness: 4 routes x 150 bodies with one parameter of a random value: 200 or a 4xx, never a 5xx', async () => {
  let seed = 12345;
  const rand = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
  const pick = (a) => a[Math.floor(rand() * a.length)];
  const value = (depth = 0) => {
    switch (Math.floor(rand() * (depth > 1 ? 6 : 8))) {
      case 0: return null;
      case 1: return rand() < 0.5;
      case 2: return pick([0, 1, 2, -1, 3, 17, 1e9, 2 ** 40]);
      case 3: return pick([0.5, -0.5, 1.5, 1e300, -2.5]);
      case 4: return pick(['', 'x', 'auto', 'none', 'required', 'text', 'json_object', 'float', 'base64', 'function',
                           'user', 'é\u0000', 'a'.repeat(300)]);
      case 5: return [];
      case 6: return Array.from({ length: 1 + Math.floor(rand() * 3) }, () => value(depth + 1));
      default: {
        const o = {};
        for (const k of ['type', 'name', 'role', 'content', 'text', 'function', 'schema', 'format', 'call_id'])
          if (rand() < 0.3) o[k] = value(depth + 1);
        return o;
      }
    }
  };
  const routes = {
    '/v1/chat/completions': [{ model: MODEL_NAME, messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 },
      ['messages', 'max_tokens', 'temperature', 'top_p', 'n', 'stream', 'stop', 'seed', 'tools', 'tool_choice',
       'response_format', 'logprobs', 'top_logprobs', 'logit_bias', 'presence_penalty', 'store', 'modalities']],
    '/v1/completions': [{ model: MODEL_NAME, prompt: 'hi', max_tokens: 2 },
      ['prompt', 'max_tokens', 'n', 'echo', 'best_of', 'logprobs', 'stream', 'stream_options', 'stop', 'suffix']],
    '/v1/embeddings': [{ model: MODEL_NAME, input: 'hi' }, ['input', 'encoding_format', 'dimensions', 'user', 'model']],
    '/v1/responses': [{ model: MODEL_NAME, input: 'hi', max_output_tokens: 2 },
      ['input', 'instructions', 'tools', 'tool_choice', 'text', 'max_output_tokens', 'metadata', 'store', 'include',
       'top_logprobs', 'previous_response_id', 'truncation', 'stream']],
  };
  for (const [path, [body, keys]] of Object.entries(routes)) {
    for (let i = 0; i < 150; ++i) {
      const b = structuredClone(body);
      const key = pick(keys);
      b[key] = value();
      if (key === 'max_tokens' || key === 'max_output_tokens') b[key] = Math.min(Number(b[key]) || 1, 4);
      if (key === 'n' || key === 'best_of') b[key] = typeof b[key] === 'number' ? b[key] : 2;
      const r = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
                                           body: JSON.stringify(b) });
      const text = await r.text();
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${path} ${JSON.stringify(b)}: ${r.status} ${text}`);
      if (r.status !== 200 || !text.startsWith('data:') && !text.startsWith('event:')) {
        const j = JSON.parse(text);
        if (r.status !== 200) assert.equal(typeof j.error.message, 'string');
      }
    }
  }
  assert.equal((await fetch(base + '/health')).status, 200);
});
