"""SIGTERM with a stream in flight: the generation is stopped upstream, the stream ends with an
error event, and the process exits within the graceful timeout, without a traceback."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, simulator_config

LONG = {
    "pattern": "LONG",
    "answer": "{echo}",
    "answer_chars": 4000,
    "pacing": {"chunks_per_second": 20, "chunk_chars": 8},
}


def test_sigterm_mid_stream_stops_the_generation_and_exits_cleanly(tmp_path: Path) -> None:
    with BackgroundServer(create_simulator(simulator_config(scripts=[LONG]))) as simulator:
        config = tmp_path / "server.toml"
        config.write_text(
            f'[upstream]\nbase_url = "{simulator.url}"\n[auth]\napi_keys = ["{API_KEY}"]\n'
            '[[accounts]]\ntoken = "tok-alpha"\n'
        )
        port = free_port()
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "deepseek_free_api",
                "serve",
                "--config",
                str(config),
                "--port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                assert process.poll() is None
                try:
                    if httpx.get(url + "/ping").text == "pong":
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            received: list[str] = []
            first = threading.Event()

            def read() -> None:
                body = {
                    "model": "deepseek-chat",
                    "messages": [{"role": "user", "content": "LONG"}],
                    "stream": True,
                }
                headers = {"Authorization": f"Bearer {API_KEY}"}
                with httpx.stream(
                    "POST", url + "/v1/chat/completions", json=body, headers=headers, timeout=30
                ) as r:
                    for line in r.iter_lines():
                        received.append(line)
                        if '"content"' in line:
                            first.set()

            reader = threading.Thread(target=read)
            reader.start()
            assert first.wait(20)
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=20)
            exited = time.monotonic() - signalled
            reader.join(10)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        assert exited < 5, exited  # within uvicorn's graceful timeout (5 s); the answer needs 25 s
        assert "Traceback" not in output and "CancelledError" not in output, output
        errors = [line for line in received if '"error"' in line]
        assert errors and "shutting down" in errors[0], received[-3:]
        stops = httpx.get(simulator.url + "/_sim/requests", params={"path": "stop_stream"}).json()["requests"]
        assert len(stops) == 1
        assert httpx.get(simulator.url + "/_sim/state").json()["in_flight"] == {}
