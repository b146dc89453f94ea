#!/usr/bin/env python3
"""Faults against a real `gannet serve` and a real store: kill -9 of the server while tasks are
being written and while a response streams (SQLite file or Redis), then a restart on the same store;
for Redis also a kill -9 and restart of redis-server itself under load.

Promises checked: every task whose creation was acknowledged is readable after the restart with a
well-formed record (a known status, its id); the SQLite file passes PRAGMA integrity_check; a client
mid-stream gets a clean connection error, not a hang; while Redis is down every request gets a prompt
HTTP answer with a JSON-RPC error (none hangs past the client timeout) and service resumes after.

usage: crash_test.py GANNET_BIN sqlite|redis
"""
import os
import signal
import sqlite3
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import TASKS, check, failures, kill_and_clean, free_port, mcp_rpc, start_serve  # noqa: E402
import gannet_test  # noqa: E402

STATUSES = {"working", "input_required", "completed", "failed", "cancelled"}


def rpc(port, method, params, caps=None, timeout=10):
    """(HTTP status, JSON-RPC message); raises OSError when the connection fails."""
    return mcp_rpc(port, method, params, caps, timeout, name_keys=("name", "taskId"))


def start_server(gannet, store, log_path):
    return start_serve(gannet, ["--no-model", "--tools", "conformance", "--store", store], log_path, mode="a+",
                       tries=200)


def start_redis(port, work):
    # appendfsync always: what redis acknowledged is on disk, so its own kill -9 loses nothing.
    return gannet_test.start_redis(port, work, ["--appendonly", "yes", "--appendfsync", "always"])


def task_writers(port, stop, accepted, n_threads=4):
    """Creates tasks until `stop`; records each acknowledged taskId."""
    def loop():
        while not stop.is_set():
            try:
                _, m = rpc(port, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0.05}}, TASKS,
                           timeout=5)
            except (OSError, ValueError):
                continue  # the server is gone: nothing was acknowledged
            tid = m.get("result", {}).get("taskId")
            if tid:
                accepted.append(tid)
            time.sleep(0.02)  # a few hundred tasks, so the re-runs after the restart stay quick
    threads = [threading.Thread(target=loop) for _ in range(n_threads)]
    for t in threads:
        t.start()
    return threads


def kill_during_task_writes(gannet, store, work, db_path):
    p, port = start_server(gannet, store, os.path.join(work, "a.log"))
    stop, accepted = threading.Event(), []
    threads = task_writers(port, stop, accepted)
    time.sleep(1.5)
    p.send_signal(signal.SIGKILL)
    p.wait()
    stop.set()
    for t in threads:
        t.join()
    check("tasks were being written when the server died", len(accepted) >= 5, len(accepted))
    if db_path:
        con = sqlite3.connect(db_path)
        check("sqlite file intact after kill -9", con.execute("PRAGMA integrity_check").fetchone()[0] == "ok")
        con.close()
    p, port = start_server(gannet, store, os.path.join(work, "b.log"))
    bad = []
    for tid in accepted:
        _, m = rpc(port, "tasks/get", {"taskId": tid}, TASKS)
        r = m.get("result", {})
        if r.get("taskId") != tid or r.get("status") not in STATUSES:
            bad.append((tid, m))
    check(f"all {len(accepted)} acknowledged tasks readable and well-formed after restart", not bad, bad[:3])
    # Tasks the dead server was running hold a 5 s lease (kTaskLeaseMs); once it lapses, the next
    # tasks/get re-runs them on a live server. So every acknowledged task ends up completed.
    time.sleep(5.5)
    deadline, pending = time.time() + 90, set(accepted)
    while pending and time.time() < deadline:
        for tid in list(pending):
            if rpc(port, "tasks/get", {"taskId": tid}, TASKS)[1].get("result", {}).get("status") == "completed":
                pending.discard(tid)
        time.sleep(0.2)
    check(f"every acknowledged task completes after the restart (orphans re-run once their lease lapsed)",
          not pending, f"{len(pending)} still not completed")
    return p, port


def kill_during_stream(gannet, store, work):
    p, port = start_server(gannet, store, os.path.join(work, "c.log"))
    outcome = {}

    def call():
        t0 = time.time()
        try:
            outcome["reply"] = rpc(port, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 20}},
                                   timeout=30)
        except Exception as e:  # noqa: BLE001 — any clean client-side error is the expected outcome
            outcome["error"] = type(e).__name__
        outcome["s"] = time.time() - t0
    t = threading.Thread(target=call)
    t.start()
    time.sleep(1.0)
    p.send_signal(signal.SIGKILL)
    p.wait()
    t.join(timeout=40)
    check("client mid-stream gets a connection error, not a hang",
          not t.is_alive() and "error" in outcome and outcome["s"] < 10, outcome)
    p, port = start_server(gannet, store, os.path.join(work, "d.log"))
    _, m = rpc(port, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0}})
    check("restarted server answers", "result" in m, m)
    return p


def redis_restart_under_load(gannet, store, work, rport, redis):
    """Four clients create tasks throughout: before, while redis is dead (kill -9) and after it restarts.
    Every creation acknowledged in any phase must be readable afterwards (appendfsync always)."""
    p, port = start_server(gannet, store, os.path.join(work, "e.log"))
    _, m = rpc(port, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0}}, TASKS)
    tid = m["result"]["taskId"]
    stop, accepted = threading.Event(), []
    writers = task_writers(port, stop, accepted)
    time.sleep(1.0)
    before = len(accepted)
    redis.send_signal(signal.SIGKILL)
    redis.wait()
    answers, slow = [], []
    for _ in range(20):
        t0 = time.time()
        try:
            status, m = rpc(port, "tasks/get", {"taskId": tid}, TASKS, timeout=8)
            answers.append((status, "error" in m))
        except OSError as e:
            answers.append(("conn", str(e)))
        if time.time() - t0 > 6:
            slow.append(time.time() - t0)
    check("requests while redis is down get prompt JSON-RPC errors (4 writers running)",
          all(isinstance(s, int) and is_err for s, is_err in answers) and not slow, (answers[:3], slow))
    check("gannet serve survives its store going away", p.poll() is None)
    redis = start_redis(rport, work)
    n_down = len(accepted)
    time.sleep(1.5)  # the writers go on against the restarted redis
    stop.set()
    for t in writers:
        t.join()
    check("tasks were acknowledged before the kill and after the restart",
          before >= 5 and len(accepted) > n_down, (before, n_down, len(accepted)))
    ok = False
    for _ in range(50):
        _, m = rpc(port, "tasks/get", {"taskId": tid}, TASKS)
        if m.get("result", {}).get("status") == "completed":
            ok = True
            break
        time.sleep(0.1)
    check("service resumes after redis restarts; the task written before is still there", ok, m)
    bad = []
    for t in accepted:
        r = rpc(port, "tasks/get", {"taskId": t}, TASKS)[1].get("result", {})
        if r.get("taskId") != t or r.get("status") not in STATUSES:
            bad.append(t)
    check(f"all {len(accepted)} tasks acknowledged around the redis restart are there, well-formed", not bad,
          bad[:3])
    return p, redis


def main():
    gannet, kind = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    procs, redis = [], None
    try:
        if kind == "redis":
            rport = free_port()
            redis = start_redis(rport, work)
            store, db_path = f"redis://127.0.0.1:{rport}", None
        else:
            db_path = os.path.join(work, "store.db")
            store = "sqlite:" + db_path
        p, _ = kill_during_task_writes(gannet, store, work, db_path)
        procs.append(p)
        procs.append(kill_during_stream(gannet, store, work))
        if kind == "redis":
            p, redis = redis_restart_under_load(gannet, store, work, rport, redis)
            procs.append(p)
    finally:
        kill_and_clean(work, procs + [redis])
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
