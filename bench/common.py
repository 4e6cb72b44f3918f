"""Shared parts of the end-to-end benchmarks: child processes, a bare HTTP/1.1 client, statistics.

Every process a benchmark starts (simulator, splice, floor proxy, server) runs in its own session and is
killed by ``Processes`` on exit, whatever happens; only 127.0.0.1 is used.
"""

from __future__ import annotations

import asyncio
import compileall
import contextlib
import glob
import importlib.util
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from deepseek_free_api.background import free_port
from deepseek_free_api.upstream.pow import PowChallenge, encode_header, solve

HERE = Path(__file__).resolve().parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
SIMULATOR = (
    "import json, sys, uvicorn\n"
    "from deepseek_free_api.simulator import SimulatorConfig, create_app\n"
    "config = SimulatorConfig.from_dict(json.load(open(sys.argv[1])))\n"
    "uvicorn.run(create_app(config), host='127.0.0.1', port=int(sys.argv[2]), log_level='warning',"
    " access_log=False, backlog=4096, timeout_keep_alive=60)\n"
)
# `deepseek-free-api` from the source tree in argv[1] (ahead of the venv's editable install).
FROM_SOURCE = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'deepseek-free-api'\n"
    "from deepseek_free_api.cli import main\n"
    "sys.exit(main())\n"
)
# What the web app sends (config.py persona defaults); the simulator checks the version header.
UPSTREAM_HEADERS = {"User-Agent": "bench/1.0", "X-Client-Version": "2.5.0", "X-Client-Platform": "web"}
SERVICE_KEY = "bench-service-key"
MARKER = "Qx7"  # every scripted answer starts with it: its first sighting is the first answer byte


# -- processes ------------------------------------------------------------------------------


class Child:
    """A child process in its own session; CPU and memory read from /proc."""

    def __init__(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.started = time.perf_counter()
        self.popen = subprocess.Popen(
            list(argv),
            start_new_session=True,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def tree(self) -> list[int]:
        """This process and its descendants (``serve --workers N`` runs N worker processes)."""
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for task in glob.glob(f"/proc/{pid}/task/*/children"):
                with contextlib.suppress(OSError), open(task) as handle:
                    todo.extend(int(child) for child in handle.read().split())
        return pids

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the process and its live descendants (all threads)."""
        total = 0
        for pid in self.tree():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    def memory(self, key: str = "VmRSS") -> int:
        """A /proc status figure in bytes, summed over the process tree: VmRSS (now) or VmHWM (peak).

        With workers, the sum of peaks is an upper bound of the tree's peak.
        """
        total, found = 0, False
        for pid in self.tree():
            with contextlib.suppress(OSError), open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1]) * 1024
                        found = True
                        break
        if not found:
            raise KeyError(key)
        return total

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise RuntimeError(f"{self.name} exited with code {self.popen.returncode}")

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after 8 s."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.popen.wait(8)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(5)
            except ProcessLookupError:
                pass


class Processes:
    """Starts the benchmark's processes and stops every one of them on exit (a context manager)."""

    def __init__(self) -> None:
        self.children: list[Child] = []
        self._tmp = tempfile.TemporaryDirectory(prefix="dsfa-bench-")
        self.tmp = Path(self._tmp.name)

    def __enter__(self) -> Processes:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for child in reversed(self.children):
            child.stop()
        self._tmp.cleanup()

    def start(self, name: str, argv: Sequence[str], env: Mapping[str, str] | None = None) -> Child:
        child = Child(name, argv, env)
        self.children.append(child)
        return child

    def simulator(self, config: Mapping[str, Any], port: int | None = None) -> tuple[Child, int]:
        """The simulator (uvicorn, own process) built with ``SimulatorConfig.from_dict(config)``."""
        port = port or free_port()
        path = self.tmp / f"simulator-{port}.json"
        path.write_text(json.dumps(config))
        return self.start("simulator", [sys.executable, "-c", SIMULATOR, str(path), str(port)]), port

    def splice(self, upstream: int) -> tuple[Child, int]:
        """bench/floor_proxy.py (a TCP splice, the lower bound) in front of ``upstream``."""
        return self._proxy("splice", "floor_proxy.py", upstream)

    def floor(self, upstream: int) -> tuple[Child, int]:
        """bench/http_floor.py (the aiohttp pass-through, the floor) in front of ``upstream``."""
        return self._proxy("floor", "http_floor.py", upstream)

    def _proxy(self, name: str, script: str, upstream: int) -> tuple[Child, int]:
        port = free_port()
        argv = [sys.executable, str(HERE / script), "--listen", str(port), "--upstream", str(upstream)]
        return self.start(name, argv), port

    def server(
        self,
        settings: Mapping[str, Any],
        port: int | None = None,
        *,
        src: Path | None = None,
        name: str = "server",
        env: Mapping[str, str] | None = None,
    ) -> tuple[Child, int]:
        """``deepseek-free-api serve --config <toml>``, the command users run.

        ``src``: run the package from another source tree (another commit, same venv) instead.
        ``env``: variables added to the server's environment.
        A ``workers`` entry in ``settings`` is not a setting: it runs ``serve --workers N``.
        """
        settings = dict(settings)
        workers = settings.pop("workers", None)
        port = port or free_port()
        data = {**settings, "server": {**settings.get("server", {}), "host": "127.0.0.1", "port": port}}
        data["server"].setdefault("data_dir", str(self.tmp / f"data-{port}"))  # the store's file: ours
        path = self.tmp / f"server-{port}.toml"
        path.write_text(to_toml(data))
        compile_package(src)
        script = Path(sys.executable).with_name("deepseek-free-api")
        if src is not None:
            command = [sys.executable, "-c", FROM_SOURCE, str(src.resolve())]
        elif script.exists():
            command = [str(script)]
        else:
            command = [sys.executable, "-m", "deepseek_free_api"]
        extra = ["--workers", str(workers)] if workers else []
        return self.start(name, [*command, "serve", "--config", str(path), *extra], env), port


def compile_package(src: Path | None) -> None:
    """Byte-compile the package (from ``src``, else the installed one) as ``pip install`` does.

    An installed server (the wheel, the Docker image) starts from compiled bytecode; a source tree
    run with PYTHONDONTWRITEBYTECODE=1 (set here, and in the Docker image) would compile its ~130
    modules again at every start, ≈ 0.2 s that no deployment pays.
    """
    if src is not None:
        package = src / "deepseek_free_api"
    else:
        spec = importlib.util.find_spec("deepseek_free_api")
        assert spec is not None and spec.submodule_search_locations is not None
        package = Path(next(iter(spec.submodule_search_locations)))
    compileall.compile_dir(package, quiet=1)


def server_settings(
    upstream_port: int, tokens: Iterable[str], **sections: Mapping[str, Any]
) -> dict[str, Any]:
    """Server settings for a benchmark: the simulator upstream, these accounts, one service key.

    Logging at warning (no access log line per request) and no pause between two generations on
    one account (``pool.min_interval_s = 0``), as ``serve --demo`` does.
    """
    tokens = list(tokens)
    data: dict[str, Any] = {
        "log_level": "warning",
        "upstream": {"base_url": f"http://127.0.0.1:{upstream_port}"},
        "auth": {"api_keys": [SERVICE_KEY]},
        "pool": {"min_interval_s": 0, "max_waiters": len(tokens) + 100, "wait_timeout_s": 600},
    }
    for section, values in sections.items():
        if section == "workers":  # not a section: ``Processes.server`` runs ``serve --workers N``
            data[section] = values
            continue
        data[section] = {**data.get(section, {}), **values}
    data["accounts"] = [{"token": token} for token in tokens]
    return data


def to_toml(data: Mapping[str, Any]) -> str:
    """Enough TOML for server settings: top-level scalars, [sections] and [[accounts]]."""
    top = [
        f"{key} = {json.dumps(value)}" for key, value in data.items() if not isinstance(value, dict | list)
    ]
    lines = [*top, ""]
    for key, value in data.items():
        if isinstance(value, dict):
            lines += [f"[{key}]", *(f"{k} = {json.dumps(v)}" for k, v in value.items()), ""]
    for key, value in data.items():
        if isinstance(value, list):
            for table in value:
                lines += [f"[[{key}]]", *(f"{k} = {json.dumps(v)}" for k, v in table.items()), ""]
    return "\n".join(lines)


def parse_assignments(pairs: Sequence[str]) -> dict[str, Any]:
    """``key=JSON`` (or ``section.key=JSON``) pairs from the command line into nested dicts."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, _, raw = pair.partition("=")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        *sections, name = key.split(".")
        target = out
        for section in sections:
            target = target.setdefault(section, {})
        target[name] = value
    return out


def raise_fd_limit() -> int:
    """Raise the soft open-files limit to the hard one (children inherit it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def install_signal_exit() -> None:
    """SIGTERM/SIGHUP end the benchmark through the normal clean-up path (finally blocks)."""

    def leave(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, leave)


async def wait_ready(child: Child, port: int, path: str, timeout: float = 60.0) -> float:
    """Poll ``GET path`` every 5 ms until it answers 200; returns seconds since the child started."""
    deadline = time.monotonic() + timeout
    while True:
        child.check_alive()
        try:
            reply = await http(port, "GET", path, timeout=2)
            if reply.status == 200:
                return time.perf_counter() - child.started
        except (TimeoutError, OSError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{child.name} did not answer {path} within {timeout:.0f}s")
        await asyncio.sleep(0.005)


async def wait_quiet(children: Sequence[Child], timeout: float = 20.0, window: float = 0.25) -> float:
    """Wait until these processes use under 10% of a core over ``window`` (background PoW done)."""
    began = time.monotonic()
    while time.monotonic() - began < timeout:
        before = sum(c.cpu_seconds() for c in children)
        await asyncio.sleep(window)
        if sum(c.cpu_seconds() for c in children) - before < 0.1 * window:
            break
    return time.monotonic() - began


def cpu_and_wall(name: str, values: Sequence[tuple[float, float]], width: int = 8) -> str:
    """One line: median (min..max) over rounds of (CPU s, wall s) pairs, in ms."""
    cpu = [c * 1000 for c, _ in values]
    wall = [w * 1000 for _, w in values]
    return (
        f"  {name:<{width}} CPU {statistics.median(cpu):.3f} ms ({min(cpu):.3f}..{max(cpu):.3f})"
        f"  wall {statistics.median(wall):.3f} ms ({min(wall):.3f}..{max(wall):.3f})"
    )


def machine_load() -> str:
    """``uptime``-style load averages and the CPU count, for the record."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} on {os.cpu_count()} CPUs"


# -- a bare HTTP/1.1 client ------------------------------------------------------------------


@dataclass
class Reply:
    """One HTTP exchange with its timings (perf_counter seconds)."""

    status: int = 0
    began: float = 0.0
    first_byte: float | None = None
    marker: float | None = None  # first time MARKER was seen in the body
    ended: float = 0.0
    raw: bytearray = field(default_factory=bytearray)
    error: str | None = None

    @property
    def ttft(self) -> float | None:
        return None if self.marker is None else self.marker - self.began

    @property
    def duration(self) -> float:
        return self.ended - self.began

    def headers_and_body(self) -> tuple[bytes, bytes]:
        """The raw head and the de-chunked body."""
        end = self.raw.find(b"\r\n\r\n")
        head, body = bytes(self.raw[:end]), bytes(self.raw[end + 4 :])
        if b"transfer-encoding: chunked" in head.lower():
            body = dechunk(body)
        return head, body

    def json(self) -> Any:
        return json.loads(self.headers_and_body()[1])


def dechunk(data: bytes) -> bytes:
    """Decode an HTTP/1.1 chunked body."""
    out, pos = bytearray(), 0
    while True:
        eol = data.find(b"\r\n", pos)
        if eol < 0:
            return bytes(out)
        size = int(data[pos:eol].split(b";")[0] or b"0", 16)
        if size == 0:
            return bytes(out)
        out += data[eol + 2 : eol + 2 + size]
        pos = eol + 2 + size + 2


async def http(
    port: int,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    timeout: float = 60.0,
    start: asyncio.Event | None = None,
) -> Reply:
    """One request on a new connection (``Connection: close``), read to EOF, with timings.

    Deliberately not httpx: one process holding 1,000 streams through httpx measured the client
    (bench/simulator_streams.py); this costs a read and a substring search per arrival.
    """
    payload = b"" if body is None else json.dumps(body).encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
    head += "".join(f"{key}: {value}\r\n" for key, value in (headers or {}).items())
    request = (head + "\r\n").encode() + payload
    if start is not None:
        await start.wait()
    reply = Reply(began=time.perf_counter())
    marker = MARKER.encode()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            try:
                writer.write(request)
                await writer.drain()
                raw = reply.raw
                while piece := await reader.read(262144):
                    now = time.perf_counter()
                    if reply.first_byte is None:
                        reply.first_byte = now
                    if reply.marker is None:
                        searched = max(0, len(raw) - len(marker))
                        raw += piece
                        if raw.find(marker, searched) >= 0:
                            reply.marker = now
                    else:
                        raw += piece
            finally:
                writer.close()
    except TimeoutError:
        reply.error = "timeout"
    except OSError as exc:
        reply.error = type(exc).__name__
    reply.ended = time.perf_counter()
    if reply.raw[:9] in (b"HTTP/1.1 ", b"HTTP/1.0 "):
        reply.status = int(reply.raw[9:12])
    elif reply.error is None:
        reply.error = "no HTTP response"
    return reply


# -- the two kinds of client ---------------------------------------------------------------


@dataclass
class Prepared:
    """What a direct client holds before ``chat/completion``: a session and a solved PoW."""

    headers: dict[str, str]
    body: dict[str, Any]


async def prepare_direct(port: int, token: str, prompt: str) -> Prepared:
    """``chat_session/create`` and ``chat/create_pow_challenge`` + solve, as the server must."""
    headers = {**UPSTREAM_HEADERS, "Authorization": f"Bearer {token}"}
    created = await http(port, "POST", "/api/v0/chat_session/create", headers=headers, body={})
    session = created.json()["data"]["biz_data"]["chat_session"]["id"]
    target = {"target_path": "/api/v0/chat/completion"}
    got = await http(port, "POST", "/api/v0/chat/create_pow_challenge", headers=headers, body=target)
    challenge = PowChallenge.from_json(got.json()["data"]["biz_data"]["challenge"])
    headers["X-Ds-Pow-Response"] = encode_header(challenge, solve(challenge))
    body = {
        "chat_session_id": session,
        "parent_message_id": None,
        "model_type": "default",
        "prompt": prompt,
        "ref_file_ids": [],
        "thinking_enabled": False,
        "search_enabled": False,
    }
    return Prepared(headers, body)


async def direct_completion(
    port: int, prepared: Prepared, *, timeout: float = 120.0, start: asyncio.Event | None = None
) -> Reply:
    """``chat/completion`` read to its end; an error unless the stream FINISHED."""
    reply = await http(
        port,
        "POST",
        "/api/v0/chat/completion",
        headers=prepared.headers,
        body=prepared.body,
        timeout=timeout,
        start=start,
    )
    if reply.error is None and b'"FINISHED"' not in reply.raw[-4096:]:
        reply.error = f"HTTP {reply.status}, no FINISHED"
    return reply


async def server_completion(
    port: int, prompt: str, *, timeout: float = 120.0, start: asyncio.Event | None = None
) -> Reply:
    """``POST /v1/chat/completions`` with ``stream: true``, read to ``[DONE]``."""
    body = {"model": "deepseek-chat", "stream": True, "messages": [{"role": "user", "content": prompt}]}
    headers = {"Authorization": f"Bearer {SERVICE_KEY}"}
    reply = await http(
        port, "POST", "/v1/chat/completions", headers=headers, body=body, timeout=timeout, start=start
    )
    tail = reply.raw[-4096:]
    if reply.error is None and (b"data: [DONE]" not in tail or b'"error"' in tail):
        reply.error = f"HTTP {reply.status}, {bytes(tail[-160:])!r}"
    return reply


def openai_content(reply: Reply) -> str:
    """The answer text of a streamed OpenAI reply (for checks after the clock stopped)."""
    text = []
    for line in reply.headers_and_body()[1].split(b"\n"):
        if line.startswith(b"data: {"):
            for choice in json.loads(line[6:]).get("choices", ()):
                text.append(choice.get("delta", {}).get("content") or "")
    return "".join(text)


# -- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def spread(values: Sequence[float], scale: float = 1.0, digits: int = 1) -> str:
    """``median (min–max)`` of the values times ``scale``."""
    if not values:
        return "n/a"
    f = f"{{:.{digits}f}}"
    low, mid, high = (f.format(v * scale) for v in (min(values), statistics.median(values), max(values)))
    return f"{mid} ({low}–{high})"


def rotated(items: Sequence[str], turn: int) -> list[str]:
    """``items`` started at position ``turn``: a different path goes first in each round."""
    turn %= len(items)
    return [*items[turn:], *items[:turn]]
