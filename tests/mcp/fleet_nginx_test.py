#!/usr/bin/env python3
"""Fleet: three `gannet serve` behind nginx (round robin, no stickiness) sharing one Redis.
Tasks created through the balancer are polled through whichever server nginx picks; one server is
killed mid-run and restarted; then a rolling restart runs under load. Counts calls that still fail
after client retries (retry = reissue with a new id, as the spec asks after a broken stream) and
tasks that never reach a terminal state.

usage: fleet_nginx_test.py GANNET_BIN   (exit 0 when zero failed calls and zero lost tasks)
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import TASKS, free_port, mcp_rpc, start_redis  # noqa: E402


def wait_port(port, timeout=10):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


_ids = [0]


def rpc_once(port, method, params, caps=None):
    _ids[0] += 1
    msg = mcp_rpc(port, method, params, caps, name_keys=("name", "taskId"), rid=_ids[0])[1]
    if "result" not in msg:
        raise RuntimeError(f"error reply: {msg}")
    return msg["result"]


def rpc(port, method, params, caps=None, retries=5):
    """Reissues a failed call (new id) a few times, as a client does after a broken connection."""
    for attempt in range(retries + 1):
        try:
            return rpc_once(port, method, params, caps)
        except (OSError, urllib.error.URLError, RuntimeError, ValueError):
            if attempt == retries:
                raise
            time.sleep(0.1 * (attempt + 1))


class Server:
    def __init__(self, gannet, port, store, work, i):
        self.args = [gannet, "serve", "--port", str(port), "--no-model", "--tools", "conformance", "--store", store]
        self.port, self.log, self.proc = port, os.path.join(work, f"s{i}.log"), None

    def start(self):
        self.proc = subprocess.Popen(self.args, stdout=open(self.log, "a"), stderr=subprocess.STDOUT)
        assert wait_port(self.port), open(self.log).read()

    def stop(self, sig_kill=False):
        if self.proc:
            self.proc.kill() if sig_kill else self.proc.terminate()
            self.proc.wait()
            self.proc = None


def main():
    gannet = sys.argv[1]
    work = tempfile.mkdtemp()
    rport, lb = free_port(), free_port()
    redis = start_redis(rport, work, ["--appendonly", "no"])
    store = f"redis://127.0.0.1:{rport}"
    servers = [Server(gannet, free_port(), store, work, i) for i in range(3)]
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
pid {work}/nginx.pid; error_log {work}/nginx.err warn; worker_processes 1;
events {{ worker_connections 1024; }}
http {{
  access_log off; client_body_temp_path {work}/b; proxy_temp_path {work}/p; fastcgi_temp_path {work}/f;
  uwsgi_temp_path {work}/u; scgi_temp_path {work}/s;
  upstream fleet {{ {' '.join(f'server 127.0.0.1:{s.port} max_fails=0;' for s in servers)} keepalive 16; }}
  server {{
    listen 127.0.0.1:{lb};
    location / {{
      proxy_pass http://fleet; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_set_header Host $http_host; proxy_buffering off;
      proxy_next_upstream error timeout; proxy_connect_timeout 1s;
    }}
  }}
}}
""")
    nginx = None
    failed_calls, lost_tasks, n_calls, n_tasks = 0, 0, 0, 0
    try:
        for s in servers:
            s.start()
        nginx = subprocess.Popen(["nginx", "-c", conf, "-p", work, "-g", "daemon off;"],
                                 stderr=open(os.path.join(work, "nginx.stderr"), "w"))
        assert wait_port(lb), open(os.path.join(work, "nginx.stderr")).read()

        stop = threading.Event()
        task_ids = []
        lock = threading.Lock()

        def load():
            nonlocal failed_calls, n_calls, n_tasks
            while not stop.is_set():
                try:
                    rpc(lb, "tools/call", {"name": "greet", "arguments": {"name": "x"}})
                    t = rpc(lb, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0.2}}, TASKS)
                    with lock:
                        task_ids.append(t["taskId"])
                        n_tasks += 1
                    time.sleep(0.05)  # ~80 tasks/s in all: within the fleet's worker capacity
                except Exception as e:  # noqa: BLE001 — counted, not raised
                    with lock:
                        failed_calls += 1
                    print("call failed after retries:", e)
                with lock:
                    n_calls += 2

        workers = [threading.Thread(target=load) for _ in range(4)]
        for w in workers:
            w.start()
        time.sleep(2)
        servers[1].stop(sig_kill=True)   # killed mid-run
        time.sleep(2)
        servers[1].start()
        time.sleep(1)
        for s in servers:                # rolling restart under load
            s.stop()
            s.start()
            time.sleep(1)
        stop.set()
        for w in workers:
            w.join()

        deadline = time.time() + 30  # > the 5 s task lease: orphaned tasks get re-run elsewhere
        pending = list(task_ids)
        while pending and time.time() < deadline:
            still = []
            for tid in pending:
                try:
                    st = rpc(lb, "tasks/get", {"taskId": tid}, TASKS)["status"]
                except Exception:  # noqa: BLE001
                    st = "unknown"
                if st not in ("completed", "failed", "cancelled"):
                    still.append(tid)
            pending = still
            time.sleep(0.3)
        lost_tasks = len(pending)
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait()
        for s in servers:
            s.stop()
        redis.terminate()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({"calls": n_calls, "failed_calls_after_retries": failed_calls, "tasks": n_tasks,
                      "lost_tasks": lost_tasks}))
    return 0 if failed_calls == 0 and lost_tasks == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
