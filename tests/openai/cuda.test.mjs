// `gannet serve --device cuda` answered by the official `openai` client (label gpu: run by
// `ctest -L gpu` on a machine with a GPU). The CUDA runner serves the fixture model: greedy chat
// completions streamed and not, eight concurrent requests batched together (with --deterministic
// each gives the text it gives alone), a long shared system prompt served from the prefix cache,
// and a bad request answered with a 400 while the server keeps serving.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import OpenAI from 'openai';

const BIN = process.env.GANNET_BINARY;
const MODEL = join(process.env.GANNET_SOURCE, 'tests/fixtures/models/llama-f16.gguf');
let proc, client;

before(async () => {
  proc = spawn(BIN, ['serve', '-m', MODEL, '--device', 'cuda', '--port', '0', '--ctx', '256', '--kv-blocks', '512',
                     '--max-batch-tokens', '256', '--deterministic'],
               { stdio: ['ignore', 'pipe', 'inherit'] });
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 60000);
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

const ask = (text, extra = {}) => ({
  model: 'llama-f16',
  messages: [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: text }],
  max_tokens: 24, temperature: 0, ignore_eos: true, ...extra,
});

test('greedy chat completion, streamed and not, gives the same text', async () => {
  const r = await client.chat.completions.create(ask('Name a color.'));
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 24);
  assert.ok(r.choices[0].message.content.length > 0);
  const stream = await client.chat.completions.create(ask('Name a color.', { stream: true }));
  let text = '';
  let chunks = 0;
  for await (const c of stream) {
    text += c.choices[0]?.delta?.content ?? '';
    chunks += 1;
  }
  assert.ok(chunks > 2, `only ${chunks} chunks`);
  assert.equal(text, r.choices[0].message.content);
});

test('eight concurrent requests batched on the GPU each give their text alone', async () => {
  const prompts = Array.from({ length: 8 }, (_, i) => `Count to ${i + 3} in words, please.`);
  const alone = [];
  for (const p of prompts) {
    alone.push((await client.chat.completions.create(ask(p))).choices[0].message.content);
  }
  const together = await Promise.all(prompts.map((p) => client.chat.completions.create(ask(p))));
  together.forEach((r, i) => assert.equal(r.choices[0].message.content, alone[i], `request ${i}`));
});

test('a long shared system prompt is served from the prefix cache', async () => {
  const system = 'You answer questions about the ocean. '.repeat(4);
  const req = (q) => ({ ...ask(q), messages: [{ role: 'system', content: system }, { role: 'user', content: q }] });
  const first = await client.chat.completions.create(req('Why is it salty?'));
  const second = await client.chat.completions.create(req('How deep is it?'));
  assert.ok(first.usage.prompt_tokens > 100);
  assert.ok(second.usage.prompt_tokens_details.cached_tokens >= 64,
            `cached ${second.usage.prompt_tokens_details.cached_tokens} of ${second.usage.prompt_tokens}`);
});

test('a bad request is a 400 and the server keeps serving', async () => {
  await assert.rejects(client.chat.completions.create(ask('hi', { max_tokens: -1 })), (e) => e.status === 400);
  const r = await client.chat.completions.create(ask('Still there?'));
  assert.equal(r.usage.completion_tokens, 24);
});
