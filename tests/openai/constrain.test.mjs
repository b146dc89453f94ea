// Structured outputs and sampling options end to end on the shipped model (models/gannet-default.gguf)
// through the official `openai` client: response_format json_schema strict (100 seeds, each answer
// JSON.parse'd and checked by ajv), json_object, forced tool calls (named and required), logprobs
// (chat, streaming, legacy completions), logit_bias, n > 1 and the 400s for bad values.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import OpenAI from 'openai';
import Ajv from 'ajv';

const BIN = process.env.GANNET_BINARY;
const MODEL = join(process.env.GANNET_SOURCE, 'models/gannet-default.gguf');
const MODEL_NAME = 'gannet-default';
let proc, base, client;

before(async () => {
  proc = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '--ctx', '512', '--kv-blocks', '1024'],
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

const msgs = (text) => [{ role: 'user', content: text }];
const ajv = new Ajv({ strict: false });

const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 16 },
    age: { type: 'integer', minimum: 0, maximum: 120 },
    role: { enum: ['admin', 'user', 'guest'] },
    tags: { type: 'array', items: { type: 'string', maxLength: 8 }, maxItems: 3 },
    score: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    active: { type: 'boolean' },
  },
  required: ['name', 'age', 'role', 'tags', 'score', 'active'],
  additionalProperties: false,
};

test('response_format json_schema strict: 100 of 100 seeds give schema-valid JSON', async () => {
  const validate = ajv.compile(PERSON);
  const seeds = [...Array(100).keys()];
  for (let i = 0; i < seeds.length; i += 10) {
    await Promise.all(seeds.slice(i, i + 10).map(async (seed) => {
      const r = await client.chat.completions.create({
        model: MODEL_NAME, messages: msgs('Describe a person as JSON.'), seed, temperature: 1, max_tokens: 300,
        response_format: { type: 'json_schema', json_schema: { name: 'person', strict: true, schema: PERSON } },
      });
      const c = r.choices[0];
      assert.equal(c.finish_reason, 'stop', `seed ${seed}: ${c.message.content}`);
      const value = JSON.parse(c.message.content);
      assert.ok(validate(value), `seed ${seed}: ${c.message.content} ${JSON.stringify(validate.errors)}`);
      assert.equal(c.schema_check.valid, true);
    }));
  }
});

test('response_format json_object, streamed, gives a JSON object', async () => {
  const stream = await client.chat.completions.create({
    model: MODEL_NAME, messages: msgs('JSON please'), seed: 3, max_tokens: 400, stream: true,
    response_format: { type: 'json_object' },
  });
  let text = '', finish = null;
  for await (const chunk of stream) {
    for (const c of chunk.choices) { text += c.delta.content ?? ''; if (c.finish_reason) finish = c.finish_reason; }
  }
  if (finish === 'stop') {
    const v = JSON.parse(text);
    assert.equal(typeof v, 'object');
    assert.ok(!Array.isArray(v) && v !== null);
  } else {
    assert.equal(finish, 'length');
    assert.equal(text[0], '{');
  }
});

const WEATHER = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string', minLength: 1, maxLength: 24 }, unit: { enum: ['c', 'f'] } },
      required: ['city', 'unit'], additionalProperties: false,
    },
  },
};
const TIME = {
  type: 'function',
  function: { name: 'get_time', parameters: { type: 'object', properties: { tz: { type: 'string', maxLength: 10 } },
                                               required: ['tz'], additionalProperties: false } },
};

test('tool_choice named and required force a call whose arguments validate', async () => {
  const validate = ajv.compile(WEATHER.function.parameters);
  for (const seed of [1, 2, 3, 4, 5]) {
    const r = await client.chat.completions.create({
      model: MODEL_NAME, messages: msgs('Weather in Paris?'), seed, max_tokens: 200, tools: [WEATHER, TIME],
      tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'tool_calls', JSON.stringify(c.message));
    assert.equal(c.message.tool_calls.length, 1);
    assert.equal(c.message.tool_calls[0].function.name, 'get_weather');
    const args = JSON.parse(c.message.tool_calls[0].function.arguments);
    assert.ok(validate(args), JSON.stringify(args));
  }
  const r = await client.chat.completions.create({
    model: MODEL_NAME, messages: msgs('Anything'), seed: 9, max_tokens: 300, tools: [WEATHER, TIME],
    tool_choice: 'required', parallel_tool_calls: false,
  });
  const calls = r.choices[0].message.tool_calls;
  assert.equal(calls.length, 1);
  assert.ok(['get_weather', 'get_time'].includes(calls[0].function.name));
  const bad = await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL_NAME, messages: msgs('x'), tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'nope' } } }) });
  assert.equal(bad.status, 400);
  assert.equal((await bad.json()).error.param, 'tool_choice');
});

test('logprobs: chosen token is the greedy top, top_logprobs sum to at most 1', async () => {
  const r = await client.chat.completions.create({
    model: MODEL_NAME, messages: msgs('hello'), temperature: 0, max_tokens: 12, ignore_eos: true,
    logprobs: true, top_logprobs: 5,
  });
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  let text = '';
  for (const e of content) {
    assert.equal(e.top_logprobs.length, 5);
    const sum = e.top_logprobs.reduce((s, t) => s + Math.exp(t.logprob), 0);
    assert.ok(sum <= 1 + 1e-5 && sum > 0, `sum ${sum}`);
    assert.ok(e.logprob <= 0);
    assert.equal(e.token, e.top_logprobs[0].token);  // greedy: the chosen token is the best
    assert.ok(Math.abs(e.logprob - e.top_logprobs[0].logprob) < 1e-6);
    for (let k = 1; k < 5; ++k) assert.ok(e.top_logprobs[k].logprob <= e.top_logprobs[k - 1].logprob);
    text += Buffer.from(e.bytes).toString('latin1');
  }
  assert.equal(Buffer.from(text, 'latin1').toString('utf8'), r.choices[0].message.content);
  // Streaming carries the same entries.
  const stream = await client.chat.completions.create({
    model: MODEL_NAME, messages: msgs('hello'), temperature: 0, max_tokens: 12, ignore_eos: true,
    logprobs: true, top_logprobs: 5, stream: true,
  });
  const streamed = [];
  for await (const chunk of stream) for (const c of chunk.choices) streamed.push(...(c.logprobs?.content ?? []));
  assert.deepEqual(streamed.map((e) => e.token), content.map((e) => e.token));
  // Legacy completions: logprobs is a count.
  const t = await client.completions.create({ model: MODEL_NAME, prompt: 'Once upon', max_tokens: 4, temperature: 0,
                                              ignore_eos: true, logprobs: 2 });
  assert.equal(t.choices[0].logprobs.tokens.length, 4);
  assert.equal(Object.keys(t.choices[0].logprobs.top_logprobs[0]).length <= 2, true);
});

test('logit_bias +100 forces one token; n: 3 gives three choices', async () => {
  const r = await client.chat.completions.create({
    model: MODEL_NAME, messages: msgs('hello'), temperature: 1, seed: 1, max_tokens: 5, ignore_eos: true,
    logit_bias: { 300: 100 }, logprobs: true,
  });
  const toks = r.choices[0].logprobs.content.map((e) => e.token);
  assert.equal(new Set(toks).size, 1, JSON.stringify(toks));
  const n = await client.chat.completions.create({ model: MODEL_NAME, messages: msgs('hi'), n: 3, max_tokens: 6,
                                                   temperature: 1, seed: 5, ignore_eos: true });
  assert.equal(n.choices.length, 3);
  assert.deepEqual(n.choices.map((c) => c.index), [0, 1, 2]);
  assert.equal(n.usage.completion_tokens, 18);
  const texts = new Set(n.choices.map((c) => c.message.content));
  assert.ok(texts.size >= 2, 'seeds per choice differ');
  const pen = await client.chat.completions.create({ model: MODEL_NAME, messages: msgs('hi'), max_tokens: 8,
    temperature: 0, ignore_eos: true, frequency_penalty: 2, presence_penalty: 2, logprobs: true });
  const ptoks = pen.choices[0].logprobs.content.map((e) => e.token);
  assert.ok(new Set(ptoks).size >= 6, 'penalties spread the tokens: ' + JSON.stringify(ptoks));
});

test('bad generation options are 400s naming the parameter', async () => {
  for (const [body, param] of [
    [{ response_format: { type: 'xml' } }, 'response_format'],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'integer', minimum: 3, maximum: 1 } } } }, 'response_format'],
    [{ top_logprobs: 3 }, 'top_logprobs'],
    [{ logprobs: true, top_logprobs: 50 }, 'top_logprobs'],
    [{ logit_bias: { abc: 1 } }, 'logit_bias'],
    [{ frequency_penalty: 5 }, 'frequency_penalty'],
    [{ n: 0 }, 'n'],
  ]) {
    const r = await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAME, messages: msgs('x'), ...body }) });
    assert.equal(r.status, 400, JSON.stringify(body));
    assert.equal((await r.json()).error.param, param, JSON.stringify(body));
  }
});
