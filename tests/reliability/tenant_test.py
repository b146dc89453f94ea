#!/usr/bin/env python3
"""Tenant isolation of MCP tasks across a fleet: two `gannet serve` with --auth-tokens sharing one
SQLite store. A task alice created through server A can be read, updated and cancelled by alice
through server B, and never by bob (through either server): to bob it is unknown (-32602), exactly
like an id that never existed, and his attempts leave it untouched. A spliced id ("x:<id>", which
would reach tenant "bob:x"'s keys) is unknown too.

usage: tenant_test.py GANNET_BIN
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import TASKS, check, failures, mcp_rpc, start_serve  # noqa: E402

TOKENS = {"alice": "tok-alice-1", "bob": "tok-bob-2", "bob:x": "tok-bobx-3"}


def rpc(port, who, method, params):
    return mcp_rpc(port, method, params, TASKS, headers={"Authorization": "Bearer " + TOKENS[who]},
                   name_keys=("name", "taskId"))[1]


def start(gannet, args, log_path):
    return start_serve(gannet, ["--no-model", "--tools", "conformance"] + args, log_path, tries=200)


def unknown(m):
    return m.get("error", {}).get("code") == -32602


def main():
    gannet = sys.argv[1]
    work = tempfile.mkdtemp()
    tokens = os.path.join(work, "tokens")
    with open(tokens, "w") as f:
        f.writelines(f"{tok} {tenant}\n" for tenant, tok in TOKENS.items())
    args = ["--auth-tokens", tokens, "--store", "sqlite:" + os.path.join(work, "store.db")]
    procs = []
    try:
        pa, a = start(gannet, args, os.path.join(work, "a.log"))
        pb, b = start(gannet, args, os.path.join(work, "b.log"))
        procs += [pa, pb]
        m = rpc(a, "alice", "tools/call", {"name": "confirm_delete", "arguments": {"filename": "f.txt"}})
        tid = m["result"]["taskId"]
        task = {}
        for _ in range(50):
            task = rpc(b, "alice", "tasks/get", {"taskId": tid}).get("result", {})
            if task.get("status") == "input_required":
                break
            time.sleep(0.1)
        check("alice reads her task through the other server", task.get("status") == "input_required", task)
        for port in (a, b):
            check(f"bob cannot read it (server {port})", unknown(rpc(port, "bob", "tasks/get", {"taskId": tid})))
            answers = {k: {"action": "accept", "content": {"confirm": True}} for k in task.get("inputRequests", {})}
            check(f"bob cannot answer it (server {port})",
                  unknown(rpc(port, "bob", "tasks/update", {"taskId": tid, "inputResponses": answers})))
            check(f"bob cannot cancel it (server {port})", unknown(rpc(port, "bob", "tasks/cancel", {"taskId": tid})))
        m = rpc(a, "bob", "tasks/get", {"taskId": "0" * 32})
        check("to bob, alice's id looks like one that never existed", unknown(m), m)
        # Tenant "bob:x"'s task, asked for by tenant "bob" as "x:<id>" (the same store key if ids were spliced).
        m = rpc(a, "bob:x", "tools/call", {"name": "slow_compute", "arguments": {"seconds": 30}})
        xid = m["result"]["taskId"]
        check("a spliced id does not reach tenant 'bob:x'",
              unknown(rpc(b, "bob", "tasks/get", {"taskId": "x:" + xid})) and
              unknown(rpc(b, "bob", "tasks/cancel", {"taskId": "x:" + xid})))
        check("and 'bob:x''s task is untouched",
              rpc(a, "bob:x", "tasks/get", {"taskId": xid}).get("result", {}).get("status") == "working")
        check("alice's task untouched by bob's attempts",
              rpc(a, "alice", "tasks/get", {"taskId": tid}).get("result", {}).get("status") == "input_required")
        m = rpc(b, "alice", "tasks/cancel", {"taskId": tid})
        check("alice cancels her task through the other server",
              rpc(a, "alice", "tasks/get", {"taskId": tid}).get("result", {}).get("status") == "cancelled", m)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
