"""Time from a Lambda bootstrap's process start to its first request to the
runtime API, the part of a cold start the function's own code decides.

For each bootstrap given, runs it ROUNDS times with AWS_LAMBDA_RUNTIME_API
pointing at a listener on 127.0.0.1 and the environment it has on AWS (the
caller's variables: the local AWS stack's endpoints and resources), and
measures from just before the process is spawned to the moment its
`GET /2018-06-01/runtime/invocation/next` arrives. The process is killed
there, before any invocation. Prints one JSON line per bootstrap.

    python3 tools/bench/lambda_start.py [--rounds N] BOOTSTRAP...
"""
import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

NEXT = b"GET /2018-06-01/runtime/invocation/next"


def first_request_ms(bootstrap, env):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(10)
    env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{listener.getsockname()[1]}")
    started = time.perf_counter()
    proc = subprocess.Popen([bootstrap], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        conn, _ = listener.accept()
        data = b""
        while b"\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
        elapsed = (time.perf_counter() - started) * 1000
        conn.close()
        if not data.startswith(NEXT):
            raise RuntimeError(f"{bootstrap}: unexpected first request {data[:80]!r}")
        return elapsed
    except socket.timeout:
        proc.kill()
        err = proc.stderr.read().decode(errors="replace")[-2000:]
        raise RuntimeError(f"{bootstrap}: no runtime API request in 10 s\n{err}")
    finally:
        proc.kill()
        proc.wait()
        listener.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("bootstraps", nargs="+")
    args = parser.parse_args()
    env = dict(os.environ, AWS_LAMBDA_FUNCTION_NAME="bench",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
               AWS_LAMBDA_LOG_FORMAT="JSON")
    for bootstrap in args.bootstraps:
        first_request_ms(bootstrap, env)  # warm the page cache
        samples = sorted(first_request_ms(bootstrap, env) for _ in range(args.rounds))
        print(json.dumps({
            "bootstrap": bootstrap,
            "bytes": os.path.getsize(bootstrap),
            "rounds": args.rounds,
            "min_ms": round(samples[0], 1),
            "p50_ms": round(statistics.median(samples), 1),
            "max_ms": round(samples[-1], 1),
        }))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
