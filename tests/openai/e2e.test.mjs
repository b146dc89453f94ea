// End-to-end tests of `gannet serve -m` through the official `openai` client and raw HTTP.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';

const BIN = process.env.GANNET_BINARY;
const MODEL = join(process.env.GANNET_SOURCE, 'tests/fixtures/models/llama-f32.gguf');
const MODEL_NAME = 'llama-f32';
let proc, base, client;

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gannet-openai-'));
  proc = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '--ctx', '256', '--kv-blocks', '2048',
                     '--max-batch-tokens', '512', '--deterministic', '--store', `sqlite:${dir}/mcp.db`],
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

const msgs = (text) => [{ role: 'system', content: 'You are terse.' }, { role: 'user', content: text }];

test('models and health', async () => {
  const models = await client.models.list();
  assert.equal(models.data[0].id, MODEL_NAME);
  const h = await fetch(base + '/health');
  assert.equal(h.status, 200);
});

test('chat completion with usage', async () => {
  const r = await client.chat.completions.create({ model: MODEL_NAME, messages: msgs('hello'), max_tokens: 6,
                                                   temperature: 0, ignore_eos: true });
  assert.equal(r.object, 'chat.completion');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 6);
  assert.ok(r.usage.prompt_tokens > 0);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 6);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number');
});

test('text completion', async () => {
  const r = await client.completions.create({ model: MODEL_NAME, prompt: 'once upon', max_tokens: 4, temperature: 0,
                                              ignore_eos: true });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.usage.completion_tokens, 4);
});

test('streaming chat through the client, with usage', async () => {
  const stream = await client.chat.completions.create({ model: MODEL_NAME, messages: msgs('stream please'),
    max_tokens: 8, temperature: 0, stream: true, stream_options: { include_usage: true }, ignore_eos: true });
  let text = '', finish = null, usage = null, n = 0;
  for await (const chunk of stream) {
    n++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content ?? '';
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(n >= 3);
  assert.equal(finish, 'length');
  assert.equal(usage.completion_tokens, 8);
  const whole = await client.chat.completions.create({ model: MODEL_NAME, messages: msgs('stream please'),
    max_tokens: 8, temperature: 0, ignore_eos: true });
  assert.equal(text, whole.choices[0].message.content);
});

test('raw SSE framing', async () => {
  const res = await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL_NAME, messages: msgs('raw'), max_tokens: 3, stream: true, ignore_eos: true }) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/event-stream/);
  const body = await res.text();
  assert.ok(body.endsWith('data: [DONE]\n\n'), body);
  const events = body.split('\n\n').filter((e) => e.length);
  for (const e of events) assert.match(e, /^data: /);
  for (const e of events.slice(0, -1)) {
    const j = JSON.parse(e.slice(6));
    assert.equal(j.object, 'chat.completion.chunk');
  }
});

test('errors are OpenAI-shaped with the right status', async () => {
  const post = (body) => fetch(base + '/v1/chat/completions', { method: 'POST',
    headers: { 'content-type': 'application/json' }, body });
  let r = await post('{nope');
  assert.equal(r.status, 400);
  let j = await r.json();
  assert.equal(j.error.type, 'invalid_request_error');
  assert.ok('param' in j.error && 'code' in j.error);
  r = await post(JSON.stringify({ model: 'nope', messages: msgs('x') }));
  assert.equal(r.status, 404);
  assert.equal((await r.json()).error.code, 'model_not_found');
  r = await post(JSON.stringify({ model: MODEL_NAME, messages: msgs('x'), max_tokens: 100000 }));
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.code, 'context_length_exceeded');
  r = await post(JSON.stringify({ model: MODEL_NAME, messages: msgs('x'), temperature: -1 }));
  assert.equal(r.status, 400);
  assert.equal((await r.json()).error.param, 'temperature');
  // Oversized body: curl sends "Expect: 100-continue" and waits, so the 413 is read before any
  // body byte is written (a client streaming the body could instead see the connection close).
  const code = execFileSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Expect: 100-continue',
    '-H', 'content-type: application/json', '--data-binary', '@-', base + '/v1/chat/completions'],
    { input: '{"model":"' + 'x'.repeat(5 * 1024 * 1024) + '"}', encoding: 'utf8' });
  assert.equal(code, '413');
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages: msgs('x') }),
                       (e) => e.status === 404);
});

test('a request does not depend on its batch-mates (deterministic)', async () => {
  const ask = (text) => client.chat.completions.create({ model: MODEL_NAME, messages: msgs(text), max_tokens: 12,
                                                         temperature: 0, ignore_eos: true });
  const alone = (await ask('determinism probe')).choices[0].message.content;
  for (const n of [2, 5, 16]) {
    const others = Array.from({ length: n - 1 }, (_, i) => ask('other prompt number ' + i + ' ' + 'z'.repeat(i)));
    const [mine] = await Promise.all([ask('determinism probe'), ...others]);
    assert.equal(mine.choices[0].message.content, alone, 'batch of ' + n);
  }
  // Seeded sampling reproduces too.
  const seeded = () => client.chat.completions.create({ model: MODEL_NAME, messages: msgs('seeded'), max_tokens: 10,
                                                        temperature: 1, seed: 42, ignore_eos: true });
  const [a, b] = await Promise.all([seeded(), seeded()]);
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
});

test('raw SSE over curl', () => {
  const out = execFileSync('curl', ['-sN', '-H', 'content-type: application/json', '-d',
    JSON.stringify({ model: MODEL_NAME, prompt: 'hi', max_tokens: 2, stream: true, ignore_eos: true,
                     stream_options: { include_usage: true } }),
    base + '/v1/completions'], { encoding: 'utf8' });
  const events = out.split('\n\n').filter((e) => e.length);
  assert.equal(events.at(-1), 'data: [DONE]');
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e.replace(/^data: /, '')));
  assert.equal(chunks.at(-1).usage.completion_tokens, 2);
  assert.deepEqual(chunks.at(-1).choices, []);
  assert.equal(chunks.at(-2).choices[0].finish_reason, 'length');
  for (const c of chunks) assert.equal(c.object, 'text_completion');
});

test('tools are accepted and rendered; tool_choice none drops them', async () => {
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'weather',
                                                  parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const r = await client.chat.completions.create({ model: MODEL_NAME, messages: msgs('weather?'), tools,
                                                   max_tokens: 4, temperature: 0 });
  assert.ok(['stop', 'length', 'tool_calls'].includes(r.choices[0].finish_reason));
  const n = await client.chat.completions.create({ model: MODEL_NAME, messages: msgs('weather?'), tools,
                                                   tool_choice: 'none', max_tokens: 4, temperature: 0 });
  assert.equal(n.choices[0].message.tool_calls, undefined);
});

test('clients that go away cancel their requests', async () => {
  const failed0 = await metric('gannet_requests_failed_total');
  // 20 long streams at once (a tiny model is fast: one alone could finish before the abort lands).
  const N = 20;
  const ctrls = Array.from({ length: N }, () => new AbortController());
  await Promise.all(ctrls.map(async (ctrl, i) => {
    const res = await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' },
      signal: ctrl.signal,
      body: JSON.stringify({ model: MODEL_NAME, messages: msgs('long ' + i), max_tokens: 150, stream: true,
                             ignore_eos: true }) });
    assert.equal(res.status, 200);
    await res.body.getReader().read();
    ctrl.abort();
  }));
  let cancelled = 0;
  for (let i = 0; i < 200; i++) {
    await new Promise((r) => setTimeout(r, 20));
    cancelled = (await metric('gannet_requests_failed_total')) - failed0;
    if (cancelled > 0 && (await metric('gannet_running_requests')) === 0) break;
  }
  assert.ok(cancelled > 0, 'no request was cancelled');
  console.log(`cancel: ${cancelled} of ${N} aborted streams were cancelled before finishing`);
  const gen = await metric('gannet_generation_tokens_total');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(await metric('gannet_generation_tokens_total'), gen, 'still generating after cancel');
});

test('stop strings cut the output, also when streaming', async () => {
  const ask = (extra) => client.completions.create({ model: MODEL_NAME, prompt: 'once upon a time', max_tokens: 48,
                                                     temperature: 0, ignore_eos: true, ...extra });
  const full = (await ask({})).choices[0].text;
  // A random-weight model emits arbitrary bytes (invalid UTF-8 reaches the client as U+FFFD), so
  // take the stop string from a printable ASCII run past the first characters.
  const m = full.slice(2).match(/[ -~]{2}/);
  assert.ok(m, JSON.stringify(full));
  const stop = m[0];
  const expected = full.slice(0, full.indexOf(stop));
  const r = await ask({ stop: [stop] });
  assert.equal(r.choices[0].text, expected);
  assert.equal(r.choices[0].finish_reason, 'stop');
  let streamed = '';
  for await (const c of await ask({ stop, stream: true })) streamed += c.choices[0]?.text ?? '';
  assert.equal(streamed, expected);
});

test('bad serve flags fail fast with a message', () => {
  for (const args of [['-m', '/nonexistent.gguf'], ['-m', MODEL, '--ctx', '100000'],
                      ['-m', MODEL, '--max-batch-tokens', '0'], ['-m', MODEL, '--no-model']]) {
    let err = null;
    try {
      execFileSync(BIN, ['serve', '--port', '0', ...args], { encoding: 'utf8', stdio: 'pipe', timeout: 20000 });
    } catch (e) { err = e; }
    assert.ok(err && err.status === 1, args.join(' '));
    assert.match(err.stderr, /^gannet serve: /, args.join(' '));
  }
});

async function metric(name) {
  const text = await (await fetch(base + '/metrics')).text();
  const m = text.match(new RegExp('^' + name + ' ([0-9.e+]+)$', 'm'));
  assert.ok(m, name + ' missing');
  return Number(m[1]);
}

test('prefix reuse reports cached tokens and /metrics hits', async () => {
  const long = 'The quick brown fox jumps over the lazy dog. '.repeat(2);
  const first = await client.chat.completions.create({ model: MODEL_NAME, messages: msgs(long + 'A?'), max_tokens: 2 });
  const hits0 = await metric('gannet_prefix_cache_hit_tokens_total');
  const second = await client.chat.completions.create({ model: MODEL_NAME, messages: msgs(long + 'B?'), max_tokens: 2 });
  assert.ok(first.usage.prompt_tokens >= 32);
  assert.ok(second.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(second.usage));
  assert.ok(await metric('gannet_prefix_cache_hit_tokens_total') > hits0);
  assert.ok(await metric('gannet_prefix_cache_query_tokens_total') > 0);
  const text = await (await fetch(base + '/metrics')).text();
  for (const name of ['gannet_time_to_first_token_seconds_bucket', 'gannet_inter_token_latency_seconds_count',
                      'gannet_queue_depth', 'gannet_kv_blocks_used', 'gannet_preemptions_total',
                      'gannet_requests_total', 'gannet_generation_tokens_total']) {
    assert.ok(text.includes(name), name);
  }
});

function rss_kb() {
  const s = readFileSync(`/proc/${proc.pid}/status`, 'utf8');
  return Number(s.match(/VmRSS:\s+(\d+)/)[1]);
}

test('load: 1000 concurrent streams all complete', async () => {
  const N = 1000;
  const before = rss_kb();
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, rss_kb()); }, 100);
  const t0 = Date.now();
  const one = async (i) => {
    const res = await fetch(base + '/v1/chat/completions', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL_NAME, messages: [{ role: 'user', content: 'load ' + i }], max_tokens: 8,
                             stream: true, ignore_eos: true, temperature: 0 }) });
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.ok(body.endsWith('data: [DONE]\n\n'));
    return body.includes('"finish_reason":"length"');
  };
  const results = await Promise.all(Array.from({ length: N }, (_, i) => one(i)));
  clearInterval(sampler);
  const secs = (Date.now() - t0) / 1000;
  assert.equal(results.filter(Boolean).length, N);
  console.log(`load: ${N} streams in ${secs.toFixed(1)} s, VmRSS before ${before} kB, peak ${peak} kB`);
  assert.ok(peak - before < 512 * 1024, `RSS grew by ${peak - before} kB`);
});

test('per-request sparse_attention: quest equals dense on a short prompt; msa without an index branch is a 400', async () => {
  const ask = (extra) => fetch(base + '/v1/chat/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: MODEL_NAME, messages: msgs('sparse?'), max_tokens: 6, temperature: 0,
                           ignore_eos: true, ...extra }) });
  const dense = await (await ask({ sparse_attention: 'off' })).json();
  const quest = await ask({ sparse_attention: 'quest' });
  assert.equal(quest.status, 200);
  // Fewer than 16 blocks of 128 tokens: quest keeps every block, so the tokens are the dense ones.
  assert.equal((await quest.json()).choices[0].message.content, dense.choices[0].message.content);
  const msa = await ask({ sparse_attention: 'msa' });
  assert.equal(msa.status, 400);
  const body = await msa.json();
  assert.equal(body.error.param, 'sparse_attention');
  assert.match(body.error.message, /use quest/);
  const bogus = await ask({ sparse_attention: 'sometimes' });
  assert.equal(bogus.status, 400);
  assert.equal((await bogus.json()).error.param, 'sparse_attention');
});
