#!/usr/bin/env python3
"""Several `gannet serve` sharing one store (Redis started here, or a SQLite file): a task created
through one server is read, answered and cancelled through the others; a requestState minted by one
server is accepted by another (the HMAC secret lives in the store); tasks survive a server restart.

usage: store_fleet_test.py GANNET_BIN redis|sqlite
"""
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import TASKS, check, failures, free_port, mcp_rpc, start_redis, start_serve  # noqa: E402


def rpc(port, method, params, caps=None):
    return mcp_rpc(port, method, params, caps)[1]


def start_server(gannet, store, log_path):
    return start_serve(gannet, ["--no-model", "--tools", "conformance", "--store", store], log_path)


def main():
    gannet, kind = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    procs = []
    redis = None
    try:
        if kind == "redis":
            rport = free_port()
            redis = start_redis(rport, work, ["--appendonly", "no"])
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
