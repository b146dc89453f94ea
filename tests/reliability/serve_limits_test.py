#!/usr/bin/env python3
"""The limit and auth flags of `gannet serve` end to end, over the tiny fixture model: with
--auth-tokens every route but /health needs a token (OpenAI API, /metrics unless --public-metrics;
/mcp answers 401 itself); --max-body-bytes, --max-header-bytes, --max-tokens, --max-n, --max-requests-per-client
take effect (a held MCP call counts against the per-client bound); an image_url part is a 400; out-of-range flags refuse to start with the flag named;
a 500x overload of --max-requests-in-flight gets prompt 503s while the admitted calls complete
and the server's RSS stays flat.

usage: serve_limits_test.py GANNET_BIN MODEL_GGUF
"""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import check, dump_logs, failures, start_serve as start  # noqa: E402,F401


def request(port, method, path, body=None, headers=None, timeout=60):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    conn.request(method, path, body=json.dumps(body) if isinstance(body, dict) else body, headers=h)
    r = conn.getresponse()
    text = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, dict(r.getheaders()), text


def chat(content, **extra):
    return dict({"model": "llama-f32", "messages": [{"role": "user", "content": content}], "max_tokens": 2}, **extra)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def mcp_call_body(seconds):
    return json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "slow_compute", "arguments": {"seconds": seconds},
                                  "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                                            "io.modelcontextprotocol/clientCapabilities": {}}}})


MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2026-07-28",
               "Mcp-Method": "tools/call", "Mcp-Name": "slow_compute"}


def overload(gannet, store, work):
    """10x and then 500x a bound of 4: refusals are prompt 503s, the 4 admitted calls complete, RSS
    stays flat (nothing is queued per refused request)."""
    p, port = start(gannet, ["--no-model", "--tools", "conformance", "--max-requests-in-flight", "4"] + store,
                    os.path.join(work, "c.log"))
    try:
        admitted = []

        def held():
            admitted.append(request(port, "POST", "/mcp", mcp_call_body(10), MCP_HEADERS)[0])
        holders = [threading.Thread(target=held) for _ in range(4)]
        for t in holders:
            t.start()
        t_held = time.time()
        time.sleep(1.0)  # the 4 are admitted (a probe would take a slot itself if they were not)
        rss_before = rss_kib(p.pid)
        statuses, retry_after, slowest = [], [], [0.0]

        def refused():
            t0 = time.time()
            s, h, _ = request(port, "POST", "/mcp", mcp_call_body(0), MCP_HEADERS, timeout=20)
            statuses.append(s)
            retry_after.append("Retry-After" in h)
            slowest[0] = max(slowest[0], time.time() - t0)
        for wave in range(10):  # up to 10 waves of 200 concurrent, all while the 4 are in flight
            if time.time() - t_held > 7:
                break
            ts = [threading.Thread(target=refused) for _ in range(200 if wave else 36)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
        rss_after = rss_kib(p.pid)
        for t in holders:
            t.join()
        check("overload: every extra request gets 503 + Retry-After",
              statuses.count(503) == len(statuses) and all(retry_after), {x: statuses.count(x) for x in set(statuses)})
        check("overload: refusals are prompt (< 5 s each)", slowest[0] < 5, slowest[0])
        check("overload: the 4 admitted calls complete", admitted == [200] * 4, admitted)
        check("overload: RSS stays bounded (< 16 MiB growth over the refusals)",
              rss_after - rss_before < 16 * 1024, f"{rss_before} -> {rss_after} KiB")
        print(f"     RSS {rss_before} -> {rss_after} KiB over {len(statuses)} refused requests")
        s, _, _ = request(port, "POST", "/mcp", mcp_call_body(0), MCP_HEADERS)
        check("overload: serves again once the admitted calls ended", s == 200, s)
    finally:
        p.kill()
        p.wait()


def main():
    gannet, model = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.write("tok-alice alice\n")
    store = ["--store", "sqlite:" + os.path.join(work, "store.db")]
    procs = []
    try:
        # Flags out of range: refused before binding, the flag and the value in the message.
        r = subprocess.run([gannet, "serve", "--no-model", "--max-body-bytes", "0"] + store, capture_output=True,
                           text=True, timeout=30)
        check("--max-body-bytes 0 refused", r.returncode != 0 and "--max-body-bytes" in r.stderr and "got 0" in r.stderr,
              r.stderr)
        r = subprocess.run([gannet, "serve", "--no-model", "--max-n", "17"] + store, capture_output=True, text=True,
                           timeout=30)
        check("--max-n 17 refused", r.returncode != 0 and "--max-n must be in [1, 16], got 17" in r.stderr, r.stderr)
        r = subprocess.run([gannet, "serve", "--no-model", "--public-metrics"] + store, capture_output=True, text=True,
                           timeout=30)
        check("--public-metrics without --auth-tokens refused", r.returncode != 0 and "--auth-tokens" in r.stderr,
              r.stderr)

        p, port = start(gannet, ["-m", model, "--auth-tokens", tokens, "--max-body-bytes", "20000",
                                 "--max-header-bytes", "4096", "--max-tokens", "3", "--max-n", "2"] + store,
                        os.path.join(work, "a.log"))
        procs.append(p)
        alice = {"Authorization": "Bearer tok-alice"}
        for method, path, body in [("POST", "/v1/chat/completions", chat("hi")), ("GET", "/v1/models", None),
                                   ("GET", "/metrics", None)]:
            s, h, _ = request(port, method, path, body)
            check(f"{path} without a token: 401", s == 401 and h.get("WWW-Authenticate") == "Bearer", s)
            s, _, _ = request(port, method, path, body, {"Authorization": "Bearer tok-mallory"})
            check(f"{path} with an unknown token: 401", s == 401, s)
            s, _, t = request(port, method, path, body, alice)
            check(f"{path} with a token: 200", s == 200, f"{s} {t[:200]}")
        s, _, _ = request(port, "GET", "/health")
        check("/health stays open", s == 200, s)
        s, _, t = request(port, "POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                          {"Accept": "application/json, text/event-stream"})
        check("/mcp without a token: 401", s == 401, f"{s} {t[:200]}")

        s, _, t = request(port, "POST", "/v1/chat/completions", chat("hi", max_tokens=4), alice)
        check("max_tokens over --max-tokens: 400 naming max_tokens",
              s == 400 and json.loads(t)["error"]["param"] == "max_tokens", f"{s} {t}")
        s, _, t = request(port, "POST", "/v1/chat/completions", chat("hi", max_tokens=None), alice)
        usage = json.loads(t).get("usage", {}) if s == 200 else {}
        check("no max_tokens: capped at --max-tokens", s == 200 and usage.get("completion_tokens", 99) <= 3, f"{s} {t}")
        s, _, t = request(port, "POST", "/v1/chat/completions", chat("hi", n=3), alice)
        check("n over --max-n: 400 naming n", s == 400 and json.loads(t)["error"]["param"] == "n", f"{s} {t}")
        s, _, t = request(port, "POST", "/v1/chat/completions", chat("hi", n=2), alice)
        check("n at --max-n: that many choices", s == 200 and len(json.loads(t)["choices"]) == 2, f"{s} {t[:300]}")
        img = [{"type": "text", "text": "what is it?"},
               {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]
        s, _, t = request(port, "POST", "/v1/chat/completions", chat(img), alice)
        check("image_url part: 400 naming it", s == 400 and "image_url" in t, f"{s} {t}")
        s, _, t = request(port, "POST", "/v1/chat/completions", chat("x" * 30000), alice)
        check("body over --max-body-bytes: 413", s == 413, s)
        s, _, t = request(port, "GET", "/v1/models", None, dict(alice, **{"X-Pad": "p" * 8000}))
        check("head over --max-header-bytes: 431", s == 431, s)
        p.terminate()
        p.wait()
        procs.pop()

        p, port = start(gannet, ["-m", model, "--auth-tokens", tokens, "--public-metrics", "--tools", "conformance",
                                 "--max-requests-per-client", "1"] + store, os.path.join(work, "b.log"))
        procs.append(p)
        s, _, t = request(port, "GET", "/metrics")
        check("--public-metrics: /metrics without a token", s == 200 and "gannet" in t, s)
        s, _, _ = request(port, "GET", "/v1/models")
        check("--public-metrics leaves the API closed", s == 401, s)
        # One long MCP call held open (its answer comes in 20 s), a second request from the same
        # address: 429. Hanging up the first frees the slot.
        sk = socket.create_connection(("127.0.0.1", port))
        body = mcp_call_body(20)
        head = "".join(f"{k}: {v}\r\n" for k, v in MCP_HEADERS.items())
        sk.sendall((f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{head}"
                    f"Authorization: Bearer tok-alice\r\nContent-Length: {len(body)}\r\n\r\n{body}").encode())
        for _ in range(100):  # until the held call is admitted (a loaded machine may take a while)
            s, h, _ = request(port, "GET", "/v1/models", None, alice)
            if s != 200:
                break
            time.sleep(0.1)
        check("a second request from a client at --max-requests-per-client 1: 429 + Retry-After",
              s == 429 and "Retry-After" in h, f"{s} {h}")
        sk.close()
        ok = False
        for _ in range(100):
            s, _, _ = request(port, "GET", "/v1/models", None, alice)
            if s == 200:
                ok = True
                break
            time.sleep(0.1)
        check("the slot comes back when the stream's client hangs up", ok)
        p.kill()
        p.wait()
        procs.pop()
        overload(gannet, store, work)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        dump_logs(work)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
