"""What tests/serve/test_serve.py drives: a `qwen3_mpi serve` process on loopback, and small HTTP helpers
(urllib, so that error statuses and headers are seen as they are, beside the official openai client)."""
import atexit
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request


class Server:
    """`qwen3_mpi serve --port 0 ...` (optionally under an MPI launcher), up once it prints its address."""

    def __init__(self, binary, model, extra=(), launcher=(), api_key=None):
        self.launched = bool(launcher)
        cmd = list(launcher) + [binary, "serve", "-m", model, "--port", "0", "-t", "1"] + list(extra)
        if api_key:
            cmd += ["--api-key", api_key]
        env = dict(os.environ, OMP_WAIT_POLICY="passive")
        # A session of its own, ended at exit however the test ends: a failed check must not leave a
        # server (or MPI ranks waiting for it) running.
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
        atexit.register(self._kill_leftovers)
        self.lines = []
        self.address = None
        ready = threading.Event()

        def drain():
            for line in self.proc.stderr:
                self.lines.append(line.rstrip("\n"))
                m = re.search(r"serve: listening on (http://[0-9.]+:[0-9]+)", line)
                if m:
                    self.address = m.group(1)
                    ready.set()
            ready.set()

        self.reader = threading.Thread(target=drain, daemon=True)
        self.reader.start()
        if not ready.wait(120) or not self.address:
            self.proc.kill()
            raise RuntimeError("the server did not start:\n" + "\n".join(self.lines))
        self.port = int(self.address.rsplit(":", 1)[1])

    def _kill_leftovers(self):
        children = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True, text=True).stdout.split()
        for pid in children:  # MPI ranks sit in process groups of their own
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self, timeout=60):
        """SIGTERM; the exit status and stderr once it has exited. Under a launcher every rank gets it, as
        Slurm's scancel delivers it (mpirun itself treats a SIGTERM of its own as a failed job)."""
        if self.launched:
            out = subprocess.run(["pgrep", "-f", "-P", str(self.proc.pid), "qwen3_mpi"], capture_output=True, text=True).stdout.split()
            for pid in out:
                os.kill(int(pid), signal.SIGTERM)
            if not out:
                self.proc.send_signal(signal.SIGTERM)
        else:
            self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout)
        self.reader.join(10)
        return rc, "\n".join(self.lines)

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def metrics(self):
        """GET /metrics as {name or name{labels}: value}."""
        _, _, text = request(self, "GET", "/metrics")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out


def request(server, method, path, body=None, headers=None, timeout=120):
    """(status, headers, text) of one request; `body` a dict (sent as JSON) or raw bytes."""
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(server.address + path, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def sse_events(text):
    """The data payloads of a server-sent event stream, [DONE] included."""
    return [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]


def abandoned_stream(server, path, body, chunks, headers=None):
    """Starts a streamed request, reads `chunks` events, and hangs up: a client that goes away."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", path, json.dumps(dict(body, stream=True)), dict({"Content-Type": "application/json"}, **(headers or {})))
    resp = conn.getresponse()
    if resp.status != 200:
        raise AssertionError(f"stream refused: {resp.status} {resp.read()[:300]!r}")
    seen = 0
    while seen < chunks:
        line = resp.fp.readline()
        if not line:
            break
        if line.startswith(b"data: "):
            seen += 1
    conn.sock.close()
    conn.close()
    return seen


def wait_until(predicate, timeout, what):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)
