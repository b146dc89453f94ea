"""Helpers shared by the Python end-to-end tests (tests/mcp, tests/budget, tests/reliability):
check/failure accounting, free ports, the MCP JSON-RPC call, starting `gannet serve` and redis-server.
Scripts import it with sys.path.insert(0, <their dir>/../lib); it needs only the standard library."""
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

V = "2026-07-28"
TASKS = {"extensions": {"io.modelcontextprotocol/tasks": {}}}
failures = []  # names of failed checks; mutated in place, so `from gannet_test import failures` sees them


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"), flush=True)
    if not cond:
        failures.append(name)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mcp_rpc(port, method, params, caps=None, timeout=10, headers=None, name_keys=("name", "uri", "taskId"),
            rid=1):
    """POST one JSON-RPC request to /mcp: (HTTP status, message); raises OSError when the connection fails.
    The first of name_keys present in params goes in Mcp-Name; headers are added to the request's."""
    params = dict(params, _meta={"io.modelcontextprotocol/protocolVersion": V,
                                 "io.modelcontextprotocol/clientCapabilities": caps or {}})
    h = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream",
         "MCP-Protocol-Version": V, "Mcp-Method": method}
    h.update(headers or {})
    name = next((params[k] for k in name_keys if params.get(k)), None)
    if name:
        h["Mcp-Name"] = name
    req = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", method="POST", headers=h,
                                 data=json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                                                  "params": params}).encode())
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, body = r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        status, body = e.code, e.read().decode()
    for line in body.splitlines():
        if line.startswith("data:"):
            body = line[5:]
    return status, json.loads(body)


def start_serve(gannet, args, log_path, mode="w+", tries=300, expect_fail=False):
    """Start `gannet serve --port 0 <args>` logging to log_path; (process, port) once it listens
    (the last "listening on" line, for a log opened "a+" across restarts). If it exits first: with
    expect_fail, (process, log text); else RuntimeError with the log."""
    log = open(log_path, mode)
    p = subprocess.Popen([gannet, "serve", "--port", "0"] + list(args), stdout=log, stderr=subprocess.STDOUT)
    for _ in range(tries):
        log.seek(0)
        text = log.read()
        m = re.findall(r"listening on http://[^\s/]+:(\d+)", text)
        if m and p.poll() is None:
            return p, int(m[-1])
        if p.poll() is not None:
            if expect_fail:
                return p, text
            raise RuntimeError("server exited: " + text)
        time.sleep(0.1)
    raise RuntimeError("server did not start: " + open(log_path).read())


def dump_logs(work, tail=3000):
    """When a check failed, print the last `tail` characters of every *.log file in work."""
    if failures:
        for f in sorted(os.listdir(work)):
            if f.endswith(".log"):
                print(f"--- {f}\n" + open(os.path.join(work, f)).read()[-tail:])


def kill_and_clean(work, procs):
    """A test's finally: SIGKILL every process still running (servers, redis; None skipped), wait
    for each, print the logs if a check failed, remove the work folder."""
    for p in procs:
        if p is not None:
            p.kill()
            p.wait()
    dump_logs(work)
    shutil.rmtree(work, ignore_errors=True)


def log_port(log, tries=300):
    """The port of the first "listening on" line in the open log file, polled tries times 0.1 s apart; None if none."""
    for _ in range(tries):
        log.seek(0)
        m = re.search(r"listening on http://[^\s/]+:(\d+)", log.read())
        if m:
            return int(m.group(1))
        time.sleep(0.1)
    return None


def start_redis(port, work, extra=(), tries=100):
    """A throwaway redis-server on 127.0.0.1:port, files in work, no RDB snapshots; waits until it accepts."""
    p = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", work, "--save", ""]
                         + list(extra), stdout=subprocess.DEVNULL)
    for _ in range(tries):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


def make_long_model(gannet, path, n_ctx=4096):
    """A small random llama (`gannet make-test-model`, 4 layers of 256, n_ctx context) whose streams,
    with EOS banned by logit_bias {"2": -100}, run for seconds on one thread: long enough to act mid-stream."""
    subprocess.run([gannet, "make-test-model", "--arch", "llama", "-o", path, "--ctx", str(n_ctx), "--embd", "256",
                    "--ff", "768", "--layers", "4"], check=True, capture_output=True, timeout=120)


def sse_events(port, request_body, headers, path="/v1/chat/completions", on_head=None):
    """POSTs a streamed request over a raw socket and yields each SSE event's data. Decodes the chunked
    body itself (http.client's readline hides a body cut short): raises ConnectionError when the
    connection ends before the terminating zero-length chunk, RuntimeError("<status line>") for a
    non-200. on_head(status_line, head_text) is called first when given."""
    sk = socket.create_connection(("127.0.0.1", port), timeout=60)
    data = json.dumps(request_body).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in dict({"Content-Type": "application/json"}, **headers).items())
    sk.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{head}"
               f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
    f = sk.makefile("rb")
    try:
        status = f.readline().decode()
        lines = []
        while True:
            line = f.readline()
            if line in (b"\r\n", b""):
                break
            lines.append(line.decode())
        if on_head:
            on_head(status, "".join(lines))
        if " 200 " not in status:
            raise RuntimeError(status.strip())
        pending = b""
        while True:
            size_line = f.readline()
            if not size_line.endswith(b"\r\n"):
                raise ConnectionError(f"the connection ended inside the chunked body ({len(pending)} bytes pending)")
            size = int(size_line.split(b";")[0], 16)
            chunk = f.read(size + 2)
            if len(chunk) != size + 2:
                raise ConnectionError("the connection ended inside a chunk")
            if size == 0:
                return
            pending += chunk[:-2]
            while b"\n\n" in pending:
                event, pending = pending.split(b"\n\n", 1)
                for line in event.decode().splitlines():
                    if line.startswith("data:"):
                        yield line[5:].strip()
    finally:
        f.close()
        sk.close()
