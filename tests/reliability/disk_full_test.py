#!/usr/bin/env python3
"""Disk full while `gannet quantize` writes a GGUF: the previous output survives byte for byte, no
temporary file is left behind, and the error is one clean line naming the file and the cause.
Two real limits: RLIMIT_FSIZE (EFBIG, works anywhere) and, where user namespaces are allowed, a
64 KiB tmpfs mounted in a private mount namespace (ENOSPC). A final run without a limit replaces
the file, so the failures above were the limits and not the command.

usage: disk_full_test.py GANNET_BIN MODEL_GGUF
"""
import hashlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile

failures = []


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"), flush=True)
    if not cond:
        failures.append(name)


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def limit_file_size(n_bytes):
    def apply():
        # Ignored, EFBIG comes back from write(2) instead of SIGXFSZ killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (n_bytes, n_bytes))
    return apply


def check_failed_write(name, r, out_dir, out, before):
    errors = [line for line in r.stderr.splitlines() if line.startswith("gannet quantize:")]
    err = errors[-1] if errors else ""
    check(f"{name}: quantize fails", r.returncode != 0, r.returncode)
    # stderr also carries the per-tensor progress lines; the error is one line, the last.
    check(f"{name}: one clean error line naming the file and the cause",
          len(errors) == 1 and r.stderr.strip().endswith(err) and out in err and "write failed" in err, r.stderr[-300:])
    check(f"{name}: the previous output survives intact", digest(out) == before)
    left = [f for f in os.listdir(out_dir) if ".tmp." in f]
    check(f"{name}: no temporary file left", not left, left)
    return err


def main():
    gannet, model = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp()
    try:
        out = os.path.join(work, "out.gguf")
        # The "old" output: a small valid GGUF (the input itself, f32; q8_0 output is ~1/3 of it).
        shutil.copy(model, out)
        before = digest(out)
        cmd = [gannet, "quantize", model, out, "--type", "q8_0"]

        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, preexec_fn=limit_file_size(32 << 10))
        err = check_failed_write("RLIMIT_FSIZE 32 KiB", r, work, out, before)
        check("RLIMIT_FSIZE: the cause is the file size", "too large" in err.lower(), err)

        if shutil.which("unshare"):
            small = os.path.join(work, "small")
            os.makedirs(small)
            small_out = os.path.join(small, "out.gguf")
            # Inside one private mount namespace: a 64 KiB tmpfs holding a 16 KiB "old" file, then
            # quantize into it (ENOSPC), then report the survivor's hash from inside.
            script = (f"mount -t tmpfs -o size=64k tmpfs {small} && head -c 16384 {model} > {small_out} && "
                      f"sha256sum {small_out} && {' '.join(cmd[:3])} {small_out} --type q8_0; echo rc=$?; "
                      f"sha256sum {small_out}; ls {small}")
            r = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
                               capture_output=True, text=True, timeout=120)
            lines = r.stdout.split()
            if r.returncode == 0 and "rc=0" not in r.stdout and len(lines) >= 5:
                check("tmpfs full: quantize fails with ENOSPC", "No space left" in r.stderr, r.stderr)
                check("tmpfs full: the previous output survives intact", lines[0] == lines[3], r.stdout)
                check("tmpfs full: no temporary file left", ".tmp." not in r.stdout, r.stdout)
            else:
                print(f"skip tmpfs case (no user namespace or mount here): {r.stderr.strip()[:200]}")

        r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        check("without a limit the file is replaced", r.returncode == 0 and digest(out) != before, r.stderr)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
