"""SIGTERM or Ctrl-C with a stream in flight: the generation is stopped upstream, the stream ends with
an error event, and the process exits within the graceful timeout, without a traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, server_config_file, simulator_config
from tests.support.processes import CLI, running

LONG = {
    "pattern": "LONG",
    "answer": "{echo}",
    "answer_chars": 4000,
    "pacing": {"chunks_per_second": 20, "chunk_chars": 8},
}


def ctrl_c(process: subprocess.Popen[str]) -> None:
    """What a terminal sends on Ctrl-C: SIGINT to the foreground process group (the server's own)."""
    os.killpg(process.pid, signal.SIGINT)


def sigterm(process: subprocess.Popen[str]) -> None:
    """What systemd, ``docker stop`` or a supervisor sends: SIGTERM to the process."""
    process.send_signal(signal.SIGTERM)


@pytest.mark.parametrize(
    ("stop", "exit_codes"),
    [(sigterm, (0, -signal.SIGTERM)), (ctrl_c, (0,))],
    ids=["SIGTERM", "Ctrl-C"],
)
def test_a_stop_mid_stream_stops_the_generation_and_exits_cleanly(
    tmp_path: Path, stop: Callable[[subprocess.Popen[str]], None], exit_codes: tuple[int, ...]
) -> None:
    with BackgroundServer(create_simulator(simulator_config(scripts=[LONG]))) as simulator:
        config = server_config_file(tmp_path, simulator.url)
        port = free_port()
        with running([*CLI, "serve", "--config", str(config), "--port", str(port)], port) as server:
            received: list[str] = []
            first = threading.Event()

            def read() -> None:
                body = {
                    "model": "deepseek-chat",
                    "messages": [{"role": "user", "content": "LONG"}],
                    "stream": True,
                }
                headers = {"Authorization": f"Bearer {API_KEY}"}
                url = server.url + "/v1/chat/completions"
                with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as response:
                    for line in response.iter_lines():
                        received.append(line)
                        if '"content"' in line:
                            first.set()

            reader = threading.Thread(target=read)
            reader.start()
            assert first.wait(20)
            signalled = time.monotonic()
            stop(server.process)
            server.process.wait(20)
            exited = time.monotonic() - signalled
            reader.join(10)
        output = server.output
        assert exited < 5, exited  # within uvicorn's graceful timeout (5 s); the answer needs 25 s
        assert "Traceback" not in output and "CancelledError" not in output, output
        assert "KeyboardInterrupt" not in output and server.process.returncode in exit_codes, output
        errors = [line for line in received if '"error"' in line]
        assert errors and "shutting down" in errors[0], received[-3:]
        stops = httpx.get(simulator.url + "/_sim/requests", params={"path": "stop_stream"}).json()["requests"]
        assert len(stops) == 1
        assert httpx.get(simulator.url + "/_sim/state").json()["in_flight"] == {}
