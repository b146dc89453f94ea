#!/usr/bin/env python3
"""`gannet serve --sandbox-cpu-s/--sandbox-mem-mb/--sandbox-procs/--sandbox-file-mb`: the flags reach
run_command's rlimits (read back from /proc/self/limits inside the sandbox) and are enforced (a write
past --sandbox-file-mb fails and leaves no bigger file); bad values and a flag without the workspace
pack stop the server with the flag named. A real server and real commands; label slow.

usage: sandbox_limits_flags_test.py GANNET_BIN
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from gannet_test import V, check, failures, log_port  # noqa: E402


def run_command(port, command):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "run_command", "arguments": {"command": command},
                       "_meta": {"io.modelcontextprotocol/protocolVersion": V,
                                 "io.modelcontextprotocol/clientCapabilities": {}}}}
    req = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json", "MCP-Protocol-Version": V,
                                          "Accept": "application/json, text/event-stream",
                                          "Mcp-Method": "tools/call", "Mcp-Name": "run_command"})
    with urllib.request.urlopen(req, timeout=60) as r:
        text = r.read().decode()
    for line in text.splitlines():
        if line.startswith("data:"):
            text = line[5:]
    result = json.loads(text)["result"]
    return result["structuredContent"]["exitCode"], result["content"][0]["text"]


def main():
    gannet = sys.argv[1]
    work = tempfile.mkdtemp(prefix="sandbox_flags.")
    for args, expect in [(["--sandbox-cpu-s", "0"], "--sandbox-cpu-s must be in [1, 86400], got 0"),
                         (["--sandbox-file-mb", "-1"], "--sandbox-file-mb must be in [1, 1048576], got -1"),
                         (["--sandbox-mem-mb", "2000000"], "--sandbox-mem-mb must be in [1, 1048576], got 2000000"),
                         (["--no-model", "--sandbox-procs", "8"], None)]:
        tools = [] if expect is None else ["--tools", "workspace", "--workspace", work]
        p = subprocess.run([gannet, "serve", "--port", "0", "--no-model"] + tools + args, capture_output=True,
                           text=True, timeout=30)
        want = expect or "--sandbox-procs 8 needs --tools workspace"
        check(f"bad flag refused: {want}", p.returncode != 0 and want in p.stderr + p.stdout, p.stderr)
    log = open(os.path.join(work, "serve.log"), "w+")
    p = subprocess.Popen([gannet, "serve", "--port", "0", "--no-model", "--tools", "workspace", "--workspace", work,
                          "--sandbox-cpu-s", "7", "--sandbox-mem-mb", "512", "--sandbox-procs", "40",
                          "--sandbox-file-mb", "1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        port = log_port(log, 300)
        check("server starts with the limits", port is not None, open(os.path.join(work, "serve.log")).read())
        code, limits = run_command(port, "cat /proc/self/limits")
        rows = {re.split(r"\s{2,}", l)[0]: re.split(r"\s{2,}", l)[1] for l in limits.splitlines()[1:] if l.strip()}
        check("the rlimits are the flags' values",
              code == 0 and rows.get("Max cpu time") == "7" and rows.get("Max address space") == str(512 << 20)
              and rows.get("Max processes") == "40" and rows.get("Max file size") == str(1 << 20), limits)
        code, out = run_command(port, "head -c 3000000 /dev/zero > big.bin; echo rc=$?; wc -c < big.bin")
        size = int(out.strip().splitlines()[-1]) if out.strip() else -1
        check("a write past --sandbox-file-mb fails and stops at 1 MiB", "rc=0" not in out and size <= (1 << 20),
              out)
    finally:
        p.terminate()
        p.wait()
    if failures:
        print(f"{len(failures)} failure(s); files kept in {work}")
        return 1
    shutil.rmtree(work, ignore_errors=True)
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
