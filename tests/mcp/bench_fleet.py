#!/usr/bin/env python3
"""Fleet throughput: nginx (same config as fleet_nginx_test.py) fronting N `gannet serve --no-model
--tools conformance` sharing one Redis, driven by bench_tools_call.mjs through nginx.
Runs the given fleet sizes in the given order (e.g. 1 3 1 3 to alternate) and prints one JSON line each.

usage: bench_fleet.py GANNET_BIN NODE CONCURRENCY SECONDS N [N ...]
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fleet_nginx_test import Server, free_port, wait_port  # noqa: E402


def nginx_conf(work, lb, servers):
    # Kept identical to fleet_nginx_test.py so the numbers describe the tested deployment.
    return f"""
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
"""


def run_one(gannet, node, concurrency, seconds, n, redis_url, bench):
    work = tempfile.mkdtemp()
    lb = free_port()
    servers = [Server(gannet, free_port(), redis_url, work, i) for i in range(n)]
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(work, lb, servers))
    nginx = None
    try:
        for s in servers:
            s.start()
        nginx = subprocess.Popen(["nginx", "-c", conf, "-p", work, "-g", "daemon off;"],
                                 stderr=open(os.path.join(work, "nginx.stderr"), "w"))
        assert wait_port(lb)
        out = subprocess.run([node, bench, f"http://127.0.0.1:{lb}/mcp", str(concurrency), str(seconds)],
                             capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        r["servers"] = n
        r["loadavg_1m"] = os.getloadavg()[0]
        print(json.dumps(r), flush=True)
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait()
        for s in servers:
            s.stop()
        shutil.rmtree(work, ignore_errors=True)


def main():
    gannet, node, concurrency, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    sizes = [int(x) for x in sys.argv[5:]]
    bench = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_tools_call.mjs")
    work = tempfile.mkdtemp()
    rport = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(rport), "--save", "", "--appendonly", "no",
                              "--bind", "127.0.0.1", "--dir", work], stdout=subprocess.DEVNULL)
    wait_port(rport)
    try:
        for n in sizes:
            run_one(gannet, node, concurrency, seconds, n, f"redis://127.0.0.1:{rport}", bench)
    finally:
        redis.terminate()
        redis.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
