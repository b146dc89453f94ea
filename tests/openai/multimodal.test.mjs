// Image and audio input end to end (issue #20): `gannet make-test-model --arch gemma4 --media` (a tiny
// random Gemma-4-shaped model carrying gemma4uv/gemma4ua projectors) served by the real `gannet
// serve`, spoken to with the official `openai` client; a text-only model beside it for the 400s.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import OpenAI from 'openai';

const BIN = process.env.GANNET_BINARY;
const TEXT_MODEL = join(process.env.GANNET_SOURCE, 'tests/fixtures/models/llama-f32.gguf');
const procs = [];
let mm, text;  // { client, name }

async function serve(model, extra) {
  const dir = mkdtempSync(join(tmpdir(), 'gannet-mm-'));
  const proc = spawn(BIN, ['serve', '-m', model, '--port', '0', '--deterministic', '--store', `sqlite:${dir}/mcp.db`,
                           ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  procs.push(proc);
  const base = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 30000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[^\s]+)/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    proc.on('exit', (code) => reject(new Error('server exited ' + code + ': ' + out)));
  });
  return new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0 });
}

before(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'gannet-mm-model-'));
  const model = join(dir, 'g4mm.gguf');
  execFileSync(BIN, ['make-test-model', '--arch', 'gemma4', '--media', '--ctx', '2048', '-o', model]);
  mm = { client: await serve(model, ['--ctx', '1024', '--max-media-parts', '2', '--max-media-bytes', '200000']),
         name: 'g4mm' };
  text = { client: await serve(TEXT_MODEL, ['--ctx', '256']), name: 'llama-f32' };
});

after(() => { for (const p of procs) p.kill('SIGTERM'); });

// An 8-bit RGB PNG (filter 0 rows, zlib) with a gradient that depends on `seed`.
const CRC = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(w, h, seed) {
  const raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) {
    raw[y * (1 + 3 * w)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (1 + 3 * w) + 1 + 3 * x;
      raw[o] = (x * 5 + seed * 40) & 255; raw[o + 1] = (y * 7) & 255; raw[o + 2] = (x * y + seed) & 255;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 2;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
                        chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
// 16-bit mono PCM WAV of a tone (16 kHz unless said).
function wav(seconds, rate = 16000) {
  const n = Math.round(seconds * rate);
  const b = Buffer.alloc(44 + 2 * n);
  b.write('RIFF', 0); b.writeUInt32LE(36 + 2 * n, 4); b.write('WAVE', 8); b.write('fmt ', 12);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(2 * rate, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34); b.write('data', 36);
  b.writeUInt32LE(2 * n, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin(i * 0.05)), 44 + 2 * i);
  return b;
}
const image = (buf, detail) => ({ type: 'image_url',
  image_url: { url: 'data:image/png;base64,' + buf.toString('base64'), ...(detail ? { detail } : {}) } });
const audio = (buf) => ({ type: 'input_audio', input_audio: { data: buf.toString('base64'), format: 'wav' } });
const ask = (...parts) => [{ role: 'user', content: [{ type: 'text', text: 'what is this?' }, ...parts] }];

async function first(m, messages) {
  return m.client.chat.completions.create({ model: m.name, messages, max_tokens: 1, temperature: 0,
                                            logprobs: true, top_logprobs: 2 });
}

test('an image reaches the model and usage counts its soft tokens', async () => {
  const img = png(96, 48, 1);
  const low = await first(mm, ask(image(img, 'low')));
  const auto = await first(mm, ask(image(img)));
  assert.equal(low.choices[0].finish_reason, 'length');
  // 96x48 at 70 tokens is resized to 240x528 (5x11 = 55 patches), at 280 to 528x1104 (11x23 = 253):
  // the text is the same, so the prompts differ by the soft tokens only.
  assert.equal(auto.usage.prompt_tokens - low.usage.prompt_tokens, 253 - 55);
  const again = await first(mm, ask(image(img, 'low')));
  assert.deepEqual(again.choices[0].logprobs, low.choices[0].logprobs, 'same image, same answer');
  assert.ok(again.usage.prompt_tokens_details.cached_tokens > 16, 'the same image is served from the prefix cache');
  const other = await first(mm, ask(image(png(96, 48, 2), 'low')));
  assert.equal(other.usage.prompt_tokens, low.usage.prompt_tokens);
  assert.notDeepEqual(other.choices[0].logprobs.content[0].top_logprobs,
                      low.choices[0].logprobs.content[0].top_logprobs, 'a different image changes the logits');
});

test('audio becomes one soft token per 640 samples', async () => {
  const short = await first(mm, ask(audio(wav(0.5))));  // 8000 samples: 13 frames
  const long = await first(mm, ask(audio(wav(1.0))));   // 16000: 25 frames
  assert.equal(long.usage.prompt_tokens - short.usage.prompt_tokens, 12);
  const both = await first(mm, ask(image(png(96, 48, 1), 'low'), audio(wav(0.5))));
  assert.ok(both.usage.prompt_tokens > short.usage.prompt_tokens + 55);
});

test('streaming with an image', async () => {
  const stream = await mm.client.chat.completions.create({ model: mm.name, messages: ask(image(png(48, 48, 3), 'low')),
                                                           max_tokens: 3, temperature: 0, stream: true,
                                                           stream_options: { include_usage: true } });
  let usage = null;
  for await (const c of stream) if (c.usage) usage = c.usage;
  assert.equal(usage.completion_tokens, 3);
  assert.ok(usage.prompt_tokens > 70);
});

async function rejects(m, messages, param, text_) {
  await assert.rejects(m.client.chat.completions.create({ model: m.name, messages, max_tokens: 2 }), (e) => {
    assert.equal(e.status, 400, e.message);
    assert.equal(e.param, param);
    assert.ok(e.message.includes(text_), e.message);
    return true;
  });
}

test('a text-only model refuses media parts, naming the part', async () => {
  await rejects(text, ask(image(png(8, 8, 1))), 'messages[0].content[1]', 'this model takes text only');
  await rejects(text, ask(audio(wav(0.1))), 'messages[0].content[1]', 'this model takes text only');
});

test('bad media are 400s naming the part', async () => {
  const trunc = png(32, 32, 1).subarray(0, 60);
  await rejects(mm, ask(image(trunc)), 'messages[0].content[1]', 'messages[0].content[1].image_url.url: ');
  await rejects(mm, ask({ type: 'image_url', image_url: { url: 'https://example.com/a.png' } }),
                'messages[0].content[1]', 'remote URLs are refused');
  await rejects(mm, ask(image(png(8, 8, 1), 'huge')), 'messages[0].content[1]', 'detail');
  // A decompression bomb's header: 20000x20000 with a few bytes of data, refused before any pixel.
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(20000, 0); ihdr.writeUInt32BE(20000, 4); ihdr[8] = 8; ihdr[9] = 2;
  const bomb = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr),
                              chunk('IDAT', deflateSync(Buffer.alloc(1000))), chunk('IEND', Buffer.alloc(0))]);
  await rejects(mm, ask(image(bomb)), 'messages[0].content[1]', '20000x20000 is too large');
  await rejects(mm, ask(audio(Buffer.from('RIFF0000WAVEjunk'))), 'messages[0].content[1]', 'input_audio');
  await rejects(mm, ask(image(png(8, 8, 1)), image(png(8, 8, 2)), image(png(8, 8, 3))), 'messages[0].content[3]',
                'at most 2 per request (--max-media-parts)');
  await rejects(mm, ask(audio(wav(31, 1000))), 'messages[0].content[1]', '30');  // 31 s at 1 kHz: 62 KB
  // --max-media-bytes 200000: 6 s of audio is 192 KB of WAV, 256 KB of base64.
  await rejects(mm, ask(audio(wav(6))), 'messages[0].content[1]', 'is too large: at most 200000');
});

test('more soft tokens than the context holds is a 400', async () => {
  const r = await fetch(mm.client.baseURL + '/chat/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: mm.name, messages: ask(image(png(96, 48, 1), 'high')), max_tokens: 2 }),
  });
  assert.equal(r.status, 400);
  const body = await r.json();
  assert.ok(body.error.message.includes('maximum context length is 1024'), body.error.message);
});
