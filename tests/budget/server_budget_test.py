#!/usr/bin/env python3
"""`gannet serve --budgets` end to end: real servers, the default model, a real Redis.

- malformed budgets files stop the server with a precise message;
- three servers behind nginx (round robin) share one Redis ledger; 24 concurrent requests through
  nginx race for a budget that fits 5: exactly 5 succeed, the rest get 429 in OpenAI's error shape, the ledger equals the usage the successful
  responses report (to the token), and nothing stays reserved;
- an MCP tools/call under the same key is charged the tool's cost from the same ledger, and refused
  (429, JSON-RPC error) when the budget cannot pay it;
- `gannet agent --delegate 4` through the nginx fleet on split budgets: 0 overshoot, the shared ledger
  equals the agent's own spend to the token;
- a stream without max_tokens ends at the budget with a final budget_exhausted event and its usage; a
  non-streamed reply cut by the budget is delivered (200) with a top-level budget_exhausted error;
- `serve --no-model --budgets` serves the budget lines on /metrics; a metered tool (declared output
  size) is charged its actual output, and one that returns more than it declared gets a precise
  JSON-RPC error and is charged its reservation, never more;
- a client that disconnects mid-stream is charged what it used, and its reservation is released;
- with the SQLite store, a restarted server keeps the committed spend.

usage: server_budget_test.py GANNET_BIN
"""
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import check, failures, free_port, start_serve  # noqa: E402

MODEL = "gannet-default"


def request(port, method, path, body=None, key=None, headers=None):
    h = {"Content-Type": "application/json"}
    if key:
        h["Authorization"] = "Bearer " + key
    h.update(headers or {})
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method, headers=h,
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def budget(port, key):
    status, body = request(port, "GET", "/v1/budget", key=key)
    assert status == 200, body
    return json.loads(body)


def start_server(gannet, args, log_path, expect_fail=False):
    return start_serve(gannet, ["--tools", "workspace"] + args, log_path, expect_fail=expect_fail)


def chat(port, key, content, max_tokens=None, stream=False):
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}], "ignore_eos": True}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return request(port, "POST", "/v1/chat/completions", body, key=key)


def tool_call(port, key, name, arguments, with_size=False):
    v = "2026-07-28"
    body = {"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": name, "arguments": arguments,
                       "_meta": {"io.modelcontextprotocol/protocolVersion": v,
                                 "io.modelcontextprotocol/clientCapabilities": {}}}}
    status, text = request(port, "POST", "/mcp", body, key=key,
                           headers={"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": v,
                                    "Mcp-Method": "tools/call", "Mcp-Name": name})
    size = len(text.encode())
    for line in text.splitlines():
        if line.startswith("data:"):
            text = line[5:]
    return (status, json.loads(text), size) if with_size else (status, json.loads(text))


def bad_files(gannet, work):
    cases = {
        "not json": ("{\"budgets\": [", "budgets "),
        "negative": ('{"budgets": [{"name": "a", "key": "sk-aaaaaaaa", "tokens": -3}]}',
                     "budgets[0] (a): tokens: must not be negative, got -3"),
        "overflow": ('{"budgets": [{"name": "a", "key": "sk-aaaaaaaa", "tokens": 9223372036854775808}]}',
                     "overflows the maximum 4611686018427387904"),
        "unknown field": ('{"budgets": [{"name": "a", "key": "sk-aaaaaaaa", "tokens": 3}], "costs": {}}',
                          "unknown field 'costs'"),
    }
    for name, (text, expect) in cases.items():
        path = os.path.join(work, "bad.json")
        open(path, "w").write(text)
        p, out = start_server(gannet, ["--no-model", "--budgets", path, "--store", f"sqlite:{work}/bad.db"],
                              os.path.join(work, "bad.log"), expect_fail=True)
        check(f"bad budgets file ({name}) is refused with a precise message",
              isinstance(out, str) and p.returncode != 0 and expect in out, out)


def fleet_race(gannet, work, redis_port):
    # One request costs prompt + 16 tokens exactly (ignore_eos), so the budget is set to fit 5.
    probe_budget = os.path.join(work, "probe.json")
    open(probe_budget, "w").write(json.dumps({"budgets": [{"name": "probe", "key": "sk-probe-0", "tokens": 10000}]}))
    p, port = start_server(gannet, ["--budgets", probe_budget, "--store", f"sqlite:{work}/probe.db"],
                           os.path.join(work, "probe.log"))
    status, body = chat(port, "sk-probe-0", "count to ten", max_tokens=16)
    p.terminate()
    p.wait()
    cost = json.loads(body)["usage"]["total_tokens"]
    cap = 5 * cost + cost // 2
    cfg = os.path.join(work, "fleet.json")
    open(cfg, "w").write(json.dumps({"budgets": [{"name": "team", "key": "sk-team-1", "tokens": cap},
                                                 {"name": "fan", "key": "sk-fan-1", "tokens": FAN_BUDGET}],
                                     "tool_costs": {"default": 0, "read_file": 7}}))
    servers = [start_server(gannet, ["--budgets", cfg, "--store", f"redis://127.0.0.1:{redis_port}",
                                     "--workspace", work], os.path.join(work, f"fleet{i}.log")) for i in range(3)]
    ports = [port for _, port in servers]
    lb = free_port()
    conf = os.path.join(work, "nginx.conf")
    open(conf, "w").write(f"""
pid {work}/nginx.pid; error_log {work}/nginx.err warn; worker_processes 1;
events {{ worker_connections 256; }}
http {{
  access_log off; client_body_temp_path {work}/b; proxy_temp_path {work}/p; fastcgi_temp_path {work}/f;
  uwsgi_temp_path {work}/u; scgi_temp_path {work}/s;
  upstream fleet {{ {' '.join(f'server 127.0.0.1:{p} max_fails=0;' for p in ports)} }}
  server {{
    listen 127.0.0.1:{lb};
    location / {{ proxy_pass http://fleet; proxy_http_version 1.1; proxy_set_header Host $http_host;
                 proxy_buffering off; proxy_read_timeout 300s; }}
  }}
}}
""")
    nginx = subprocess.Popen(["nginx", "-c", conf, "-p", work, "-g", "daemon off;"],
                             stderr=open(os.path.join(work, "nginx.stderr"), "w"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", lb), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            results = list(pool.map(lambda i: chat(lb, "sk-team-1", "count to ten", max_tokens=16), range(24)))
        ok = [json.loads(b) for s, b in results if s == 200]
        refused = [json.loads(b) for s, b in results if s == 429]
        check("fleet: exactly 5 of 24 concurrent requests fit the budget", len(ok) == 5, len(ok))
        check("fleet: every other request got 429", len(ok) + len(refused) == 24, [s for s, _ in results])
        check("fleet: 429 has OpenAI's error shape",
              all(r["error"]["type"] == "insufficient_quota" and "tokens left" in r["error"]["message"]
                  for r in refused), refused[:1])
        used = sum(r["usage"]["total_tokens"] for r in ok)
        b0, b1, b2 = (budget(p, "sk-team-1") for p in ports)
        check("fleet: the three servers read one ledger", b0 == b1 == b2, (b0, b1, b2))
        refusals = [int(re.search(r"^gannet_budget_refusals_total (\d+)$", request(p, "GET", "/metrics")[1],
                                  re.M).group(1)) for p in ports]
        check("fleet: nginx spread the race over the servers (each refused some)",
              sum(refusals) == 19 and sum(1 for r in refusals if r > 0) >= 2, refusals)
        check("fleet: ledger spent equals the reported usage to the token", b0["spent_tokens"] == used,
              (b0, used))
        check("fleet: nothing over the cap, nothing left reserved",
              b0["spent_tokens"] <= cap and b0["reserved_tokens"] == 0, b0)
        # MCP tools under the same key spend from the same ledger.
        open(os.path.join(work, "note.txt"), "w").write("hello")
        before = budget(ports[0], "sk-team-1")["spent_tokens"]
        status, reply = tool_call(ports[1], "sk-team-1", "read_file", {"path": "note.txt"})
        after = budget(ports[0], "sk-team-1")["spent_tokens"]
        check("mcp: a tools/call is charged its cost", status == 200 and "result" in reply and after == before + 7,
              (status, reply, before, after))
        status, reply = tool_call(ports[1], "sk-wrong-1", "read_file", {"path": "note.txt"})
        check("mcp: an unknown key is refused with 401", status == 401 and "error" in reply, (status, reply))
        while budget(ports[0], "sk-team-1")["remaining_tokens"] >= 7:
            tool_call(ports[0], "sk-team-1", "read_file", {"path": "note.txt"})
        status, reply = tool_call(ports[0], "sk-team-1", "read_file", {"path": "note.txt"})
        check("mcp: a tool the budget cannot pay is refused (429, JSON-RPC error)",
              status == 429 and reply.get("error", {}).get("code") == -32029, (status, reply))
        final = budget(ports[1], "sk-team-1")
        check("mcp: the cap holds", final["spent_tokens"] <= cap and final["remaining_tokens"] < 7, final)
        metrics = request(ports[0], "GET", "/metrics")[1]
        check("metrics: remaining and reserved are exported",
              f'gannet_budget_remaining_tokens{{budget="team"}} {final["remaining_tokens"]}' in metrics
              and 'gannet_budget_reserved_tokens{budget="team"} 0' in metrics, metrics[-600:])
        agent_fan_out(gannet, work, lb, ports)
    finally:
        nginx.terminate()
        nginx.wait()
        for p, _ in servers:
            p.terminate()
            p.wait()


FAN_BUDGET = 40000


def engine_requests(port):
    return int(re.search(r"^gannet_requests_total (\d+)", request(port, "GET", "/metrics")[1], re.M).group(1))


def agent_fan_out(gannet, work, lb, ports):
    """`gannet agent --delegate 4` through nginx: the 4 children and the parent call the 3 servers on
    split budgets; the server budget is as large as the agent's, so the split is what binds."""
    transcript = os.path.join(work, "fan.jsonl")
    accepted = [engine_requests(port) for port in ports]
    p = subprocess.run([gannet, "agent", "--task", "Read note.txt and report what it says.", "--endpoint",
                        f"http://127.0.0.1:{lb}/v1", "--api-key", "sk-fan-1", "--budget", str(FAN_BUDGET),
                        "--delegate", "4", "--max-steps", "3", "--max-tokens", "32", "--tool-cost", "7",
                        "--transcript", transcript], capture_output=True, text=True, timeout=400)
    lines = p.stdout.strip().splitlines()
    s = json.loads(lines[-1]) if p.returncode == 0 and lines else {}
    check("fan-out: gannet agent --delegate 4 through nginx exits 0", "spent_tokens" in s, p.stderr[-400:])
    events = [json.loads(l) for l in open(transcript)] if os.path.exists(transcript) else []
    calls = [e for e in events if e["event"] == "model_call" and e["http_status"] == 200]
    check("fan-out: 4 children and the parent called the model",
          len({e["agent"] for e in calls}) == 5 and len(s.get("children", [])) == 4, [e["agent"] for e in calls])
    ledgers = [budget(port, "sk-fan-1") for port in ports]
    b = ledgers[0]
    check("fan-out: 0 overshoot (ledger spent <= the budget), nothing left reserved",
          b["spent_tokens"] <= FAN_BUDGET and b["reserved_tokens"] == 0 and s.get("violations") == 0, (b, s))
    check("fan-out: the shared ledger equals the agent's own spend, to the token",
          all(l == b for l in ledgers) and b["spent_tokens"] == s.get("spent_tokens"), (ledgers, s))
    spread = [engine_requests(port) - before for port, before in zip(ports, accepted)]
    check("fan-out: nginx spread the model calls over the servers",
          sum(spread) == len(calls) and sum(1 for n in spread if n > 0) >= 2, (spread, len(calls)))
    reserved = [e["reserved_tokens"] for e in calls]
    print(f"     fan-out: {len(calls)} model calls, reservations {min(reserved, default=0)}..{max(reserved, default=0)}, "
          f"stops {[c['stop_reason'] for c in s.get('children', [])]}")


def no_model_tools(gannet, work):
    """serve --no-model --budgets: /metrics serves the budget lines; a metered tool is charged its output
    and a tool that returns more than it declared is charged the reservation, never more."""
    cfg = os.path.join(work, "nomodel.json")
    limit = 300
    open(cfg, "w").write(json.dumps({"budgets": [{"name": "tools", "key": "sk-tools-1", "tokens": limit}],
                                     "tool_costs": {"default": 0,
                                                    "read_file": {"tokens": 5, "max_output_bytes": 400}}}))
    open(os.path.join(work, "small.txt"), "w").write("hello")
    open(os.path.join(work, "big.txt"), "w").write("word " * 400)
    p, port = start_server(gannet, ["--no-model", "--budgets", cfg, "--store", f"sqlite:{work}/nomodel.db",
                                    "--workspace", work], os.path.join(work, "nomodel.log"))
    try:
        status, reply, size = tool_call(port, "sk-tools-1", "read_file", {"path": "small.txt"}, with_size=True)
        spent = budget(port, "sk-tools-1")
        check("metered tool: charged its cost + ceil(answer bytes / 4), reservation closed",
              status == 200 and "result" in reply and spent["spent_tokens"] == 5 + (size + 3) // 4
              and spent["reserved_tokens"] == 0, (status, reply, size, spent))
        status, reply = tool_call(port, "sk-tools-1", "read_file", {"path": "big.txt"})
        after = budget(port, "sk-tools-1")
        err = reply.get("error", {})
        check("metered tool: more output than declared is a precise error, charged the reservation only",
              err.get("code") == -32029 and err.get("data", {}).get("declared_output_bytes") == 400
              and err["data"].get("output_bytes", 0) > 400 and "more than the 400" in err.get("message", "")
              and after["spent_tokens"] == spent["spent_tokens"] + 5 + 100 and after["reserved_tokens"] == 0,
              (status, reply, spent, after))
        while budget(port, "sk-tools-1")["remaining_tokens"] >= 105:
            tool_call(port, "sk-tools-1", "read_file", {"path": "big.txt"})
        status, reply = tool_call(port, "sk-tools-1", "read_file", {"path": "small.txt"})
        final = budget(port, "sk-tools-1")
        check("metered tool: refused (429) when the worst case does not fit; never over the cap",
              status == 429 and reply.get("error", {}).get("code") == -32029 and final["spent_tokens"] <= limit,
              (status, reply, final))
        status, metrics = request(port, "GET", "/metrics")
        check("--no-model: /metrics serves the budget lines",
              status == 200 and f'gannet_budget_spent_tokens{{budget="tools"}} {final["spent_tokens"]}' in metrics
              and f'gannet_budget_remaining_tokens{{budget="tools"}} {final["remaining_tokens"]}' in metrics,
              (status, metrics[-400:]))
    finally:
        p.terminate()
        p.wait()


def stream_and_restart(gannet, work):
    cfg = os.path.join(work, "one.json")
    open(cfg, "w").write(json.dumps({"budgets": [{"name": "solo", "key": "sk-solo-1", "tokens": 120},
                                                 {"name": "cut", "key": "sk-cut-1", "tokens": 120},
                                                 {"name": "own", "key": "sk-own-1", "tokens": 500},
                                                 {"name": "drop", "key": "sk-drop-1", "tokens": 5000}]}))
    store = f"sqlite:{work}/ledger.db"
    p, port = start_server(gannet, ["--budgets", cfg, "--store", store], os.path.join(work, "one.log"))
    try:
        status, body = chat(port, "sk-solo-1", "write a long story", stream=True)
        events = [json.loads(l[5:]) for l in body.splitlines() if l.startswith("data:") and "[DONE]" not in l]
        last = events[-1] if events else {}
        b = budget(port, "sk-solo-1")
        check("stream: ends with a budget_exhausted event carrying the usage",
              status == 200 and last.get("error", {}).get("code") == "budget_exhausted"
              and last.get("usage", {}).get("total_tokens") == 120 and body.rstrip().endswith("[DONE]"),
              body[-400:])
        check("stream: the budget is spent exactly, never over", b["spent_tokens"] == 120 and b["remaining_tokens"] == 0, b)
        # Not streamed: the billed output is delivered (200) with a top-level error naming the cut.
        status, body = chat(port, "sk-cut-1", "write a long story")
        r = json.loads(body)
        check("non-stream: a reply cut by the budget carries error.code budget_exhausted beside its usage",
              status == 200 and r.get("error", {}).get("code") == "budget_exhausted"
              and r["error"].get("type") == "insufficient_quota" and r["choices"][0]["finish_reason"] == "length"
              and r["usage"]["total_tokens"] == 120 and r["choices"][0]["message"]["content"], body[-400:])
        status, body = chat(port, "sk-own-1", "hi", max_tokens=4)
        check("non-stream: a reply its own max_tokens stopped carries no error",
              status == 200 and "error" not in json.loads(body), body[-300:])
        check("non-stream: the budget is spent exactly", budget(port, "sk-cut-1")["spent_tokens"] == 120)
        # A client that goes away mid-stream: charged what it used, the reservation released.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/v1/chat/completions", json.dumps(
            {"model": MODEL, "messages": [{"role": "user", "content": "go on"}], "max_tokens": 400,
             "ignore_eos": True, "stream": True}),
            {"Authorization": "Bearer sk-drop-1", "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read(200)
        conn.sock.shutdown(socket.SHUT_RDWR)
        conn.close()
        for _ in range(100):
            d = budget(port, "sk-drop-1")
            if d["reserved_tokens"] == 0:
                break
            time.sleep(0.1)
        check("disconnect: the reservation is released and only what ran is charged",
              d["reserved_tokens"] == 0 and 0 < d["spent_tokens"] < 400, d)
        spent_before = d["spent_tokens"]
    finally:
        p.terminate()
        p.wait()
    p, port = start_server(gannet, ["--budgets", cfg, "--store", store], os.path.join(work, "two.log"))
    try:
        check("restart: committed spend survives",
              budget(port, "sk-solo-1")["spent_tokens"] == 120
              and budget(port, "sk-drop-1")["spent_tokens"] == spent_before)
        status, body = chat(port, "sk-solo-1", "hi", max_tokens=1)
        check("restart: an exhausted budget stays exhausted (429)", status == 429, (status, body))
    finally:
        p.terminate()
        p.wait()


def main():
    gannet = sys.argv[1]
    work = tempfile.mkdtemp()
    redis_port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no",
                              "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", redis_port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        bad_files(gannet, work)
        fleet_race(gannet, work, redis_port)
        stream_and_restart(gannet, work)
        no_model_tools(gannet, work)
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
