#!/usr/bin/env python3
"""Tenant isolation of MCP tasks across a fleet: two `gannet serve` with --auth-tokens sharing one
SQLite store. A task alice created through server A can be read, updated and cancelled by alice
through server B, and never by bob (through either server): to bob it is unknown (-32602), exactly
like an id that never existed, and his attempts leave it untouched. A spliced id ("x:<id>", which
would reach tenant "bob:x"'s keys) is unknown too. Budgets (--budgets, one ledger in the shared
store): what alice spends is charged to alice alone, /v1/budget shows a key its own account only, and
alice exhausting hers never refuses bob.

usage: tenant_test.py GANNET_BIN
"""
import http.client
import json
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


def get_budget(port, key, path="/v1/budget"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path, headers={"Authorization": "Bearer " + key})
    r = conn.getresponse()
    status, text = r.status, r.read().decode()
    conn.close()
    return status, (json.loads(text) if text.startswith("{") else text)


def budgets(gannet, work):
    """Two servers, one store, two budget keys: spend and refusals stay with their own key."""
    cfg = os.path.join(work, "budgets.json")
    keys = {"alice": "sk-alice-budget", "bob": "sk-bob-budget"}
    with open(cfg, "w") as f:
        json.dump({"budgets": [{"name": n, "key": k, "tokens": 50} for n, k in keys.items()],
                   "tool_costs": {"default": 10}}, f)
    args = ["--budgets", cfg, "--store", "sqlite:" + os.path.join(work, "budget.db")]
    procs = []
    try:
        pa, a = start(gannet, args, os.path.join(work, "c.log"))
        pb, b = start(gannet, args, os.path.join(work, "d.log"))
        procs += [pa, pb]

        def call(port, who):
            return mcp_rpc(port, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0}},
                           headers={"Authorization": "Bearer " + keys[who]})
        statuses = [call(a if i % 2 else b, "alice")[0] for i in range(6)]
        check("budgets: alice's 5 calls of 10 fit her 50 tokens, the 6th is refused (429)",
              statuses == [200] * 5 + [429], statuses)
        s, alice = get_budget(b, keys["alice"])
        check("budgets: /v1/budget shows alice her own account, spent", s == 200 and alice.get("name") == "alice"
              and alice.get("spent_tokens") == 50, alice)
        s, bob = get_budget(a, keys["bob"])
        check("budgets: nothing of alice's spend reached bob's account", s == 200 and bob.get("name") == "bob"
              and bob.get("spent_tokens") == 0 and bob.get("reserved_tokens") == 0, bob)
        s, other = get_budget(a, keys["bob"], "/v1/budget?name=alice")
        check("budgets: bob cannot name alice's account: 400, the query named, nothing of hers",
              s == 400 and "?name=alice" in other["error"]["message"] and "spent" not in json.dumps(other), (s, other))
        check("budgets: alice's exhausted budget does not refuse bob", call(b, "bob")[0] == 200)
        s, _ = get_budget(a, "sk-mallory")
        check("budgets: an unknown key reads no account (401)", s == 401, s)
    finally:
        for p in procs:
            p.kill()
            p.wait()


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
        budgets(gannet, work)
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
