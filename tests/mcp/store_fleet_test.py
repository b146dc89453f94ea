#!/usr/bin/env python3
"""Several `gannet serve` sharing one store (Redis started here, or a SQLite file): a task created
through one server is read, answered and cancelled through the others; a requestState minted by one
server is accepted by another (the HMAC secret lives in the store); tasks survive a server restart.

usage: store_fleet_test.py GANNET_BIN redis|sqlite
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

V = "2026-07-28"
TASKS = {"extensions": {"io.modelcontextprotocol/tasks": {}}}
failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        failures.append(name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rpc(port, method, params, caps=None):
    params = dict(params)
    params["_meta"] = {"io.modelcontextprotocol/protocolVersion": V,
                       "io.modelcontextprotocol/clientCapabilities": caps or {}}
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
               "MCP-Protocol-Version": V, "Mcp-Method": method}
    name = params.get("name") or params.get("uri") or params.get("taskId")
    if name:
        headers["Mcp-Name"] = name
    req = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", method="POST", headers=headers,
                                 data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": method,
                                                  "params": params}).encode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read().decode()
    except urllib.error.HTTPError as e:
        body = e.read().decode()
    for line in body.splitlines():
        if line.startswith("data:"):
            body = line[5:]
    return json.loads(body)


def start_server(gannet, store, log_path):
    log = open(log_path, "w+")
    p = subprocess.Popen([gannet, "serve", "--port", "0", "--no-model", "--tools", "conformance",
                          "--store", store], stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        log.seek(0)
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", log.read())
        if m:
            return p, int(m.group(1))
        time.sleep(0.1)
    raise RuntimeError("server did not start: " + open(log_path).read())


def main():
    gannet, kind = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    procs = []
    redis = None
    try:
        if kind == "redis":
            rport = free_port()
            redis = subprocess.Popen(["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no",
                                      "--bind", "127.0.0.1", "--dir", work], stdout=subprocess.DEVNULL)
            for _ in range(50):
                try:
                    socket.create_connection(("127.0.0.1", rport), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.1)
            store = f"redis://127.0.0.1:{rport}"
        else:
            store = "sqlite:" + os.path.join(work, "store.db")
        servers = []
        for i in range(3):
            p, port = start_server(gannet, store, os.path.join(work, f"s{i}.log"))
            procs.append(p)
            servers.append(port)
        a, b, c = servers

        m = rpc(a, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0.5, "label": "fleet"}}, TASKS)
        tid = m["result"]["taskId"]
        check("task created on A", m["result"]["resultType"] == "task", m)
        m = rpc(b, "tasks/get", {"taskId": tid}, TASKS)
        check("task visible through B", m.get("result", {}).get("taskId") == tid, m)
        deadline = time.time() + 5
        status = None
        while time.time() < deadline:
            status = rpc(c, "tasks/get", {"taskId": tid}, TASKS).get("result", {}).get("status")
            if status == "completed":
                break
            time.sleep(0.1)
        check("task completes, polled through C", status == "completed", status)

        m = rpc(a, "tools/call", {"name": "confirm_delete", "arguments": {"filename": "f.txt"}}, TASKS)
        tid = m["result"]["taskId"]
        task = {}
        for _ in range(50):
            task = rpc(b, "tasks/get", {"taskId": tid}, TASKS)["result"]
            if task["status"] == "input_required":
                break
            time.sleep(0.1)
        check("input_required seen through B", task.get("status") == "input_required", task)
        answers = {k: {"action": "accept", "content": {"confirm": True}} for k in task.get("inputRequests", {})}
        m = rpc(c, "tasks/update", {"taskId": tid, "inputResponses": answers}, TASKS)
        check("tasks/update through C acked", m.get("result", {}).get("resultType") == "complete", m)
        for _ in range(50):
            task = rpc(b, "tasks/get", {"taskId": tid}, TASKS)["result"]
            if task["status"] == "completed":
                break
            time.sleep(0.1)
        check("task resumed on A after an answer through C", task.get("status") == "completed", task)

        m = rpc(a, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 60}}, TASKS)
        tid = m["result"]["taskId"]
        rpc(b, "tasks/cancel", {"taskId": tid}, TASKS)
        m = rpc(c, "tasks/get", {"taskId": tid}, TASKS)
        check("cancel through B seen through C", m["result"]["status"] == "cancelled", m)

        m = rpc(a, "tools/call", {"name": "test_input_required_result_tampered_state", "arguments": {}})
        state = m["result"]["requestState"]
        m = rpc(b, "tools/call", {"name": "test_input_required_result_tampered_state", "arguments": {},
                                  "inputResponses": {"confirm": {"action": "accept", "content": {"ok": True}}},
                                  "requestState": state})
        text = m.get("result", {}).get("content", [{}])[0].get("text", "")
        check("requestState from A accepted by B", "integrity-ok" in text, m)

        m = rpc(a, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0, "label": "durable"}}, TASKS)
        tid = m["result"]["taskId"]
        time.sleep(0.5)
        procs[1].terminate()
        procs[1].wait()
        p, b2 = start_server(gannet, store, os.path.join(work, "s1b.log"))
        procs[1] = p
        m = rpc(b2, "tasks/get", {"taskId": tid}, TASKS)
        check("finished task readable after a server restart", m.get("result", {}).get("status") == "completed", m)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        if redis:
            redis.terminate()
            redis.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
