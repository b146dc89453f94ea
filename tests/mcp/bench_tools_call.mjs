// tools/call load generator: C concurrent keep-alive clients call one tool for D seconds over
// loopback and report calls/s and p50/p99 latency (ms). Speaks the raw 2026-07-28 wire so the
// client's own overhead stays small and identical for every server measured.
//   node bench_tools_call.mjs URL [concurrency=32] [seconds=5] [tool=greet]
import http from 'node:http';

const [url, concurrencyArg, secondsArg, tool = 'greet'] = process.argv.slice(2);
const concurrency = Number(concurrencyArg ?? 32);
const seconds = Number(secondsArg ?? 5);
const target = new URL(url);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
const V = '2026-07-28';

function call(id) {
  const body = JSON.stringify({
    jsonrpc: '2.0', id, method: 'tools/call',
    params: { name: tool, arguments: { name: 'bench' },
              _meta: { 'io.modelcontextprotocol/protocolVersion': V, 'io.modelcontextprotocol/clientCapabilities': {} } },
  });
  return new Promise((resolve, reject) => {
    const req = http.request({
      agent, host: target.hostname, port: target.port, path: target.pathname, method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json, text/event-stream',
                 'MCP-Protocol-Version': V, 'Mcp-Method': 'tools/call', 'Mcp-Name': tool,
                 'Content-Length': Buffer.byteLength(body) },
    }, (res) => {
      let data = '';
      res.on('data', (c) => (data += c));
      res.on('end', () => (res.statusCode === 200 && data.includes('"result"') ? resolve() : reject(new Error(data))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const latencies = [];
let errors = 0;
let id = 0;
const end = Date.now() + seconds * 1000;
async function worker() {
  while (Date.now() < end) {
    const t0 = process.hrtime.bigint();
    try {
      await call(++id);
      latencies.push(Number(process.hrtime.bigint() - t0) / 1e6);
    } catch {
      errors++;
    }
  }
}
const start = Date.now();
await Promise.all(Array.from({ length: concurrency }, worker));
const elapsed = (Date.now() - start) / 1000;
latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]?.toFixed(2);
console.log(JSON.stringify({ tool, concurrency, seconds: elapsed, calls: latencies.length, errors,
                             calls_per_s: Math.round(latencies.length / elapsed), p50_ms: q(0.5), p99_ms: q(0.99) }));
agent.destroy();
