#!/usr/bin/env python3
"""The Origin/Host guard of /v1 and /mcp on real `gannet serve` processes (issue #23, docs/SECURITY.md
promise 3), for a server bound to a NON-loopback address (0.0.0.0, reached through the machine's own
address when it has one) and, for contrast, a loopback one.

Non-loopback: a cross-site Origin (another host, another port, a loopback page) gets 403 on both
routes; the server's own origin and requests without Origin (API clients) pass. Loopback: foreign
Origin and foreign Host (DNS rebinding) get 403, loopback origins pass.

usage: origin_test.py GANNET_BIN MODEL_GGUF
"""
import http.client
import json
import os
import shutil
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import V, check, dump_logs, failures, start_serve  # noqa: E402

CHAT = {"model": "llama-f32", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}
MCP = {"jsonrpc": "2.0", "id": 1, "method": "tools/list",
       "params": {"_meta": {"io.modelcontextprotocol/protocolVersion": V,
                            "io.modelcontextprotocol/clientCapabilities": {}}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": V, "Mcp-Method": "tools/list"}


def own_address():
    """A non-loopback IPv4 address of this machine, or None (then 127.0.0.1 reaches the 0.0.0.0 server)."""
    candidates = []
    try:
        candidates += socket.gethostbyname_ex(socket.gethostname())[2]
    except OSError:
        pass
    try:  # the source address of a route out (UDP connect sends nothing)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("192.0.2.1", 9))
        candidates.append(s.getsockname()[0])
        s.close()
    except OSError:
        pass
    return next((a for a in candidates if not a.startswith("127.")), None)


def post(addr, port, path, body, headers):
    """(status, text) of one POST to addr:port, with the Host header the client would send unless given."""
    conn = http.client.HTTPConnection(addr, port, timeout=60)
    h = {"Content-Type": "application/json"}
    h.update(headers)
    conn.putrequest("POST", path, skip_host=True)
    conn.putheader("Host", h.pop("Host", f"{addr}:{port}"))
    data = json.dumps(body).encode()
    for k, v in dict(h, **{"Content-Length": str(len(data))}).items():
        conn.putheader(k, v)
    conn.endheaders(data)
    r = conn.getresponse()
    text = r.read().decode("utf-8", "replace")
    conn.close()
    return r.status, text


def both_routes(addr, port, headers):
    """Statuses of /v1/chat/completions and /mcp under the same extra headers."""
    s1, t1 = post(addr, port, "/v1/chat/completions", CHAT, headers)
    s2, t2 = post(addr, port, "/mcp", MCP, dict(MCP_HEADERS, **headers))
    return (s1, s2), (t1[:160], t2[:160])


def expect(name, addr, port, headers, want):
    got, texts = both_routes(addr, port, headers)
    check(f"{name}: /v1 and /mcp answer {want}", got == (want, want), (got, texts))


def main():
    gannet, model = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    procs = []
    try:
        p, port = start_serve(gannet, ["-m", model, "--host", "0.0.0.0", "--tools", "conformance", "--store", "sqlite:" + os.path.join(work, "a.db")],
                              os.path.join(work, "a.log"))
        procs.append(p)
        addr = own_address() or "127.0.0.1"
        print(f"     server bound to 0.0.0.0:{port}, reached at {addr}")
        own = f"http://{addr}:{port}"
        expect("0.0.0.0, no Origin (an API client)", addr, port, {}, 200)
        expect("0.0.0.0, same-origin page", addr, port, {"Origin": own}, 200)
        expect("0.0.0.0, cross-site Origin", addr, port, {"Origin": "http://evil.example"}, 403)
        expect("0.0.0.0, same host, other port", addr, port, {"Origin": f"http://{addr}:{port + 1}"}, 403)
        expect("0.0.0.0, a loopback page", addr, port, {"Origin": "http://localhost:3000"}, 403)
        expect("0.0.0.0, cross-site Origin naming itself in Host", addr, port,
               {"Origin": "http://evil.example", "Host": f"{addr}:{port}"}, 403)
        expect("0.0.0.0, 'null' Origin (sandboxed frame)", addr, port, {"Origin": "null"}, 403)
        status, text = post(addr, port, "/v1/chat/completions", CHAT, {"Origin": "http://evil.example"})
        check("the /v1 refusal is an OpenAI error naming the Origin",
              status == 403 and json.loads(text)["error"]["message"] == "Forbidden: Origin not allowed", text)

        p2, port2 = start_serve(gannet, ["-m", model, "--tools", "conformance", "--store",
                                         "sqlite:" + os.path.join(work, "b.db")], os.path.join(work, "b.log"))
        procs.append(p2)
        lo = "127.0.0.1"
        expect("loopback, no Origin", lo, port2, {}, 200)
        expect("loopback, a loopback page", lo, port2, {"Origin": "http://localhost:3000"}, 200)
        expect("loopback, cross-site Origin", lo, port2, {"Origin": "http://evil.example"}, 403)
        expect("loopback, DNS-rebound Host", lo, port2, {"Host": f"evil.example:{port2}"}, 403)
        expect("loopback, DNS-rebound Host and its own page", lo, port2,
               {"Host": f"evil.example:{port2}", "Origin": f"http://evil.example:{port2}"}, 403)
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
