#!/usr/bin/env python3
"""Bad input against a real `gannet serve`: every malformed or hostile request gets its specified
HTTP status and JSON-RPC error, and the server keeps serving everyone else afterwards.

usage: bad_input_test.py GANNET_BIN        (exit 0 when every check passes; prints each failure)
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import log_port  # noqa: E402

V = "2026-07-28"
TOKENS = {"alice": "tok-alice-0123456789", "bob": "tok-bob-0123456789"}
failures = []
n_checks = 0


def check(name, cond, detail=""):
    global n_checks
    n_checks += 1
    if not cond:
        failures.append(f"{name}: {detail}")
        print(f"FAIL {name}: {detail}")


def meta(caps=None):
    return {"io.modelcontextprotocol/protocolVersion": V,
            "io.modelcontextprotocol/clientCapabilities": caps if caps is not None else {}}


class Client:
    def __init__(self, port, token=TOKENS["alice"]):
        self.port = port
        self.token = token

    def raw(self, body, headers=None, method="POST", timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        if self.token:
            h["Authorization"] = "Bearer " + self.token
        h.update(headers or {})
        h = {k: v for k, v in h.items() if v is not None}
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        conn.request(method, "/mcp", body=data, headers=h)
        r = conn.getresponse()
        text = r.read().decode("utf-8", "replace")
        conn.close()
        msg = None
        if r.getheader("Content-Type", "").startswith("text/event-stream"):
            for line in text.splitlines():
                if line.startswith("data:"):
                    m = json.loads(line[5:])
                    if "id" in m:
                        msg = m
        elif text:
            try:
                msg = json.loads(text)
            except ValueError:
                msg = None
        return r.status, msg

    def rpc(self, method, params=None, caps=None, headers=None, rpc_id=1):
        params = dict(params or {})
        params.setdefault("_meta", meta(caps))
        h = {"MCP-Protocol-Version": V, "Mcp-Method": method}
        if method in ("tools/call", "prompts/get"):
            h["Mcp-Name"] = params.get("name")
        elif method == "resources/read":
            h["Mcp-Name"] = params.get("uri")
        elif method.startswith("tasks/"):
            h["Mcp-Name"] = params.get("taskId")
        h.update(headers or {})
        return self.raw({"jsonrpc": "2.0", "id": rpc_id, "method": method, "params": params}, h)


def err_code(msg):
    return (msg or {}).get("error", {}).get("code")


def tool_text(msg):
    res = (msg or {}).get("result", {})
    return " ".join(c.get("text", "") for c in res.get("content", []))


def main():
    gannet = sys.argv[1]
    work = tempfile.mkdtemp()
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        for tenant, tok in TOKENS.items():
            f.write(f"{tok} {tenant}\n")
    ws = os.path.join(work, "ws")
    os.makedirs(os.path.join(ws, "sub"))
    with open(os.path.join(ws, "hello.txt"), "w") as f:
        f.write("hello")
    os.symlink("/etc", os.path.join(ws, "etc_link"))
    os.symlink("hello.txt", os.path.join(ws, "inside_link"))
    log = open(os.path.join(work, "server.log"), "w+")
    proc = subprocess.Popen([gannet, "serve", "--port", "0", "--no-model", "--tools", "conformance,workspace",
                             "--workspace", ws, "--store", "sqlite:" + os.path.join(work, "store.db"),
                             "--auth-tokens", tokens], stdout=log, stderr=subprocess.STDOUT)
    try:
        port = log_port(log, 100)
        if port is None:
            log.seek(0)
            print("server did not start:\n" + log.read())
            return 1
        run_checks(port)
        check("server still alive", proc.poll() is None, "gannet serve exited")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"{n_checks - len(failures)}/{n_checks} checks passed")
    return 1 if failures else 0


def oversized_status(port):
    """POSTs 5 MB (over the 4 MB limit); the server may answer before the body is sent."""
    sk = socket.create_connection(("127.0.0.1", port))
    sk.settimeout(10)
    body = b"x" * (5 * 1024 * 1024)
    head = (f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Authorization: Bearer {TOKENS['alice']}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    try:
        sk.sendall(head + body)
    except OSError:
        pass
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = sk.recv(4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    sk.close()
    m = re.match(rb"HTTP/1\.1 (\d+)", data)
    return int(m.group(1)) if m else None


def run_checks(port):
    c = Client(port)
    hdr = {"MCP-Protocol-Version": V, "Mcp-Method": "tools/list"}

    # Envelope.
    s, m = c.raw("{not json", hdr)
    check("malformed JSON", s == 400 and err_code(m) == -32700 and m.get("id") is None, f"{s} {m}")
    s, m = c.raw([{"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": meta()}}], hdr)
    check("batch array", s == 400 and err_code(m) == -32600, f"{s} {m}")
    s, m = c.raw("42", hdr)
    check("non-object message", s == 400 and err_code(m) == -32600, f"{s} {m}")
    s, m = c.raw({"jsonrpc": "1.0", "id": 7, "method": "tools/list", "params": {"_meta": meta()}}, hdr)
    check("wrong jsonrpc version echoes id", s == 400 and err_code(m) == -32600 and m.get("id") == 7, f"{s} {m}")
    s, m = c.raw({"jsonrpc": "2.0", "id": 8, "result": {}}, hdr)
    check("client POSTs a response", s == 400 and err_code(m) == -32600, f"{s} {m}")
    s, m = c.raw({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": [1]}, hdr)
    check("params not an object", s == 400 and err_code(m) == -32602, f"{s} {m}")

    # Headers and _meta.
    s, m = c.rpc("tools/list", headers={"MCP-Protocol-Version": None})
    check("missing MCP-Protocol-Version", s == 400 and err_code(m) == -32020, f"{s} {m}")
    s, m = c.rpc("tools/list", headers={"MCP-Protocol-Version": "2025-11-25"})
    check("version header != _meta", s == 400 and err_code(m) == -32020, f"{s} {m}")
    s, m = c.raw({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}}, hdr)
    check("missing _meta", s == 400 and err_code(m) == -32602 and m.get("id") == 3, f"{s} {m}")
    s, m = c.rpc("tools/list", {"_meta": {"io.modelcontextprotocol/protocolVersion": V}})
    check("_meta without clientCapabilities", s == 400 and err_code(m) == -32602, f"{s} {m}")
    old = dict(meta(), **{"io.modelcontextprotocol/protocolVersion": "1999-01-01"})
    s, m = c.rpc("tools/list", {"_meta": old}, headers={"MCP-Protocol-Version": "1999-01-01"})
    data = (m or {}).get("error", {}).get("data", {})
    check("unsupported version", s == 400 and err_code(m) == -32022 and data.get("supported") == [V]
          and data.get("requested") == "1999-01-01", f"{s} {m}")
    s, m = c.rpc("tools/list", headers={"Mcp-Method": None})
    check("missing Mcp-Method", s == 400 and err_code(m) == -32020, f"{s} {m}")
    s, m = c.rpc("tools/list", headers={"Mcp-Method": "prompts/list"})
    check("Mcp-Method != method", s == 400 and err_code(m) == -32020, f"{s} {m}")
    s, m = c.rpc("tools/call", {"name": "greet", "arguments": {}}, headers={"Mcp-Name": "other"})
    check("Mcp-Name != name", s == 400 and err_code(m) == -32020, f"{s} {m}")
    s, m = c.rpc("tools/call", {"name": "greet", "arguments": {}}, headers={"Mcp-Name": None})
    check("missing Mcp-Name", s == 400 and err_code(m) == -32020, f"{s} {m}")
    s, m = c.rpc("tools/call", {"name": "test_custom_header", "arguments": {"region": "eu"}},
                 headers={"Mcp-Param-Region": "us"})
    check("Mcp-Param mismatch", s == 400 and err_code(m) == -32020, f"{s} {m}")

    # Methods and tools.
    s, m = c.rpc("no/such/method")
    check("unknown method", s == 404 and err_code(m) == -32601, f"{s} {m}")
    s, m = c.rpc("initialize")
    check("initialize with a modern envelope", s == 404 and err_code(m) == -32601, f"{s} {m}")
    s, m = c.rpc("tools/call", {"name": "no_such_tool", "arguments": {}})
    check("unknown tool", s == 200 and err_code(m) == -32602, f"{s} {m}")
    s, m = c.rpc("tools/call", {"name": "read_file", "arguments": {"path": 5}})
    check("schema-invalid arguments -> readable tool error", s == 200 and m["result"].get("isError") is True
          and "/path" in tool_text(m), f"{s} {m}")
    s, m = c.rpc("tools/call", {"name": "read_file", "arguments": {}})
    check("missing required argument", s == 200 and m["result"].get("isError") is True
          and "path" in tool_text(m), f"{s} {m}")
    s, m = c.rpc("tools/call", {"name": "read_file", "arguments": "x"})
    check("arguments not an object", s == 200 and err_code(m) == -32602, f"{s} {m}")
    s, m = c.rpc("tasks/get", {"taskId": "x"})
    check("tasks/get without the tasks capability", s == 400 and err_code(m) == -32021, f"{s} {m}")

    # Transport.
    check("oversized body", oversized_status(port) == 413, "expected 413")
    s, m = c.raw({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, dict(hdr, **{"Content-Type": "text/plain"}))
    check("wrong Content-Type", s == 415, f"{s} {m}")
    s, m = c.raw("", {}, method="GET")
    check("GET on the endpoint", s == 405, f"{s}")
    s, m = c.rpc("tools/list", headers={"Origin": "http://evil.example.com"})
    check("foreign Origin", s == 403, f"{s}")
    s, m = c.rpc("tools/list", headers={"Host": "evil.example.com"})
    check("foreign Host", s == 403, f"{s}")
    s, m = Client(port, token=None).rpc("tools/list")
    check("no bearer token", s == 401, f"{s}")
    s, m = Client(port, token="wrong").rpc("tools/list")
    check("wrong bearer token", s == 401, f"{s}")

    # requestState integrity and binding.
    s, m = c.rpc("tools/call", {"name": "test_input_required_result_tampered_state", "arguments": {}})
    state = m["result"]["requestState"]
    answer = {"confirm": {"action": "accept", "content": {"ok": True}}}
    s, m = c.rpc("tools/call", {"name": "test_input_required_result_tampered_state", "arguments": {},
                                "inputResponses": answer, "requestState": state})
    check("genuine requestState accepted", "integrity-ok" in tool_text(m), f"{s} {m}")
    forged = state[:-2] + ("AA" if state[-2:] != "AA" else "BB")
    s, m = c.rpc("tools/call", {"name": "test_input_required_result_tampered_state", "arguments": {},
                                "inputResponses": answer, "requestState": forged})
    check("forged requestState", err_code(m) == -32602, f"{s} {m}")
    s, m = c.rpc("tools/call", {"name": "test_input_required_result_request_state", "arguments": {},
                                "inputResponses": answer, "requestState": state})
    check("requestState replayed on another tool", err_code(m) == -32602, f"{s} {m}")
    s, m = Client(port, TOKENS["bob"]).rpc("tools/call", {"name": "test_input_required_result_tampered_state",
                                                          "arguments": {}, "inputResponses": answer,
                                                          "requestState": state})
    check("requestState replayed by another tenant", err_code(m) == -32602, f"{s} {m}")

    # Tasks are per tenant.
    tasks_caps = {"extensions": {"io.modelcontextprotocol/tasks": {}}}
    s, m = c.rpc("tools/call", {"name": "slow_compute", "arguments": {"seconds": 30}}, caps=tasks_caps)
    task_id = m["result"]["taskId"]
    s, m = c.rpc("tasks/get", {"taskId": task_id}, caps=tasks_caps)
    check("owner reads its task", m.get("result", {}).get("status") == "working", f"{s} {m}")
    bob = Client(port, TOKENS["bob"])
    s, m = bob.rpc("tasks/get", {"taskId": task_id}, caps=tasks_caps)
    check("another tenant's task is unknown", err_code(m) == -32602, f"{s} {m}")
    s, m = bob.rpc("tasks/cancel", {"taskId": task_id}, caps=tasks_caps)
    check("another tenant cannot cancel", err_code(m) == -32602, f"{s} {m}")
    s, m = c.rpc("tasks/cancel", {"taskId": task_id}, caps=tasks_caps)
    s, m = c.rpc("tasks/get", {"taskId": task_id}, caps=tasks_caps)
    check("owner cancels", m.get("result", {}).get("status") == "cancelled", f"{s} {m}")

    # Workspace confinement.
    def call(tool, args):
        return c.rpc("tools/call", {"name": tool, "arguments": args})[1]
    check("read inside", tool_text(call("read_file", {"path": "hello.txt"})) == "hello")
    check("symlink inside the workspace", tool_text(call("read_file", {"path": "inside_link"})) == "hello")
    for p in ["../etc/passwd", "sub/../../etc/passwd", "etc_link/passwd", "/etc/passwd"]:
        m = call("read_file", {"path": p})
        check(f"read_file {p!r} refused", m["result"].get("isError") is True and
              ("escapes" in tool_text(m) or "absolute" in tool_text(m)), f"{m}")
    m = call("write_file", {"path": "../escape.txt", "content": "x"})
    check("write_file escape refused", m["result"].get("isError") is True and "escapes" in tool_text(m), f"{m}")
    m = call("write_file", {"path": "etc_link/evil", "content": "x"})
    check("write_file through symlink refused", m["result"].get("isError") is True, f"{m}")
    m = call("list_dir", {"path": ".."})
    check("list_dir escape refused", m["result"].get("isError") is True, f"{m}")
    m = call("run_command", {"command": "tail -n +3 /proc/net/dev | cut -d: -f1"})
    check("run_command sees only loopback", tool_text(m).split() == ["lo"], f"{m}")
    probe = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=2)\" && echo reached"
    m = call("run_command", {"command": probe})
    check("run_command cannot reach the host's network", "reached" not in tool_text(m), f"{m}")
    t0 = time.time()
    m = call("run_command", {"command": "sleep 5", "timeout_ms": 300})
    check("run_command timeout", "killed after 300 ms" in tool_text(m) and time.time() - t0 < 3, f"{m}")
    m = call("run_command", {"command": "head -c 200000 /dev/zero | tr '\\0' a"})
    check("run_command output cap", "output truncated" in tool_text(m), tool_text(m)[-80:])

    # A client that disconnects cancels its call: 24 abandoned 30 s calls must not starve the workers.
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                       "params": {"name": "slow_compute", "arguments": {"seconds": 30}, "_meta": meta()}})
    socks = []
    for _ in range(24):
        sk = socket.create_connection(("127.0.0.1", port))
        sk.sendall((f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    f"Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: {V}\r\n"
                    f"Mcp-Method: tools/call\r\nMcp-Name: slow_compute\r\nAuthorization: Bearer {TOKENS['alice']}\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
        socks.append(sk)
    time.sleep(0.3)
    for sk in socks:
        sk.close()
    time.sleep(0.3)
    t0 = time.time()
    s, m = c.rpc("tools/call", {"name": "slow_compute", "arguments": {"seconds": 0}})
    check("disconnects cancel work", s == 200 and time.time() - t0 < 2, f"{s} {time.time() - t0:.1f}s")

    # Still serving everyone.
    s, m = c.rpc("tools/list")
    check("still serving after all of the above", s == 200 and len(m["result"]["tools"]) > 10, f"{s}")


if __name__ == "__main__":
    sys.exit(main())
