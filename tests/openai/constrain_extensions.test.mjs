// The `regex` and `grammar` (GBNF) response formats (gannet extensions, docs/constrain.md) end to
// end on the shipped model through the official `openai` client: every seed's answer matches the
// regex as a whole or is a sentence of the grammar, and a pattern or grammar that is bad is a 400
// naming response_format.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import OpenAI from 'openai';

const BIN = process.env.GANNET_BINARY;
const MODEL = join(process.env.GANNET_SOURCE, 'models/gannet-default.gguf');
let proc, client;

before(async () => {
  proc = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '--ctx', '512', '--kv-blocks', '1024'],
               { stdio: ['ignore', 'pipe', 'inherit'] });
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
  client = new OpenAI({ baseURL: base + '/v1', apiKey: 'unused', maxRetries: 0 });
});

after(() => { if (proc) proc.kill('SIGTERM'); });

const REGEX = '(yes|no), [0-9]{1,3} (apples|pears)( and [a-z]{2,8})?\\.';

test('response_format regex: 20 of 20 seeds match the regex whole', async () => {
  const whole = new RegExp('^(?:' + REGEX + ')$', 'u');
  for (let seed = 0; seed < 20; ++seed) {
    const r = await client.chat.completions.create({
      model: 'gannet-default', messages: [{ role: 'user', content: 'How many fruits?' }], seed, temperature: 1,
      max_tokens: 60, response_format: { type: 'regex', regex: REGEX },
    });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'stop', `seed ${seed}: ${c.message.content}`);
    assert.match(c.message.content, whole, `seed ${seed}`);
    assert.equal(c.schema_check.valid, true);
  }
});

test('response_format regex: bad or non-regular patterns are 400s naming response_format', async () => {
  for (const [regex, want] of [['(a', /regex/], ['(?=a)b', /not a regular construct/], [5, /needs \{"regex"/]]) {
    await assert.rejects(
      client.chat.completions.create({
        model: 'gannet-default', messages: [{ role: 'user', content: 'x' }], max_tokens: 5,
        response_format: { type: 'regex', regex },
      }),
      (e) => e.status === 400 && e.error?.param === 'response_format' && want.test(e.error?.message),
      `regex ${regex}`);
  }
});

const GBNF = `root ::= "order: " item (", " item){0,2} "."
item ::= qty " " fruit
qty  ::= [1-9] [0-9]?
fruit ::= "apples" | "pears" | "plums"
`;

test('response_format grammar: 20 of 20 seeds give a sentence of the GBNF grammar', async () => {
  const sentence = /^order: [1-9][0-9]? (apples|pears|plums)(, [1-9][0-9]? (apples|pears|plums)){0,2}\.$/;
  for (let seed = 0; seed < 20; ++seed) {
    const r = await client.chat.completions.create({
      model: 'gannet-default', messages: [{ role: 'user', content: 'Order some fruit.' }], seed, temperature: 1,
      max_tokens: 60, response_format: { type: 'grammar', grammar: GBNF },
    });
    const c = r.choices[0];
    assert.equal(c.finish_reason, 'stop', `seed ${seed}: ${c.message.content}`);
    assert.match(c.message.content, sentence, `seed ${seed}`);
    assert.equal(c.schema_check.valid, true);
  }
});

test('response_format grammar: a bad grammar is a 400 that says why', async () => {
  for (const [grammar, want] of [['root ::= item\n', /rule 'item' is not defined/],
                                 ['root ::= root "a" | "b"\n', /left-recursive/],
                                 ['root ::= "a\n', /unterminated literal/]]) {
    await assert.rejects(
      client.chat.completions.create({
        model: 'gannet-default', messages: [{ role: 'user', content: 'x' }], max_tokens: 5,
        response_format: { type: 'grammar', grammar },
      }),
      (e) => e.status === 400 && e.error?.param === 'response_format' && want.test(e.error?.message),
      `grammar ${grammar}`);
  }
});
