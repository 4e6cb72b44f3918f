"""What a server keeps in its default store (a SQLite file in the data directory) outlives the process:
stored Responses and conversation ids whose answer ``chat/continue`` moved, across a real restart of
``serve``; and a stored Response holds no image bytes, whatever its size."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import API_KEY, TOKENS, simulator_config
from tests.support.processes import CLI, Running, clean_env, running

MOVE = "LONG-MOVE"  # an answer cut INCOMPLETE, whose chat/continue goes on under a new message id
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Upstream:
    """The simulator, shared by the server processes of a test."""

    server: BackgroundServer

    def requests(self, suffix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = httpx.get(self.server.url + "/_sim/requests", timeout=10).json()[
            "requests"
        ]
        return [r for r in items if r["path"].endswith(suffix) and r["status"] == 200]


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    config = simulator_config(
        file_parse_seconds=0.1,
        scripts=[{"pattern": MOVE, "answer": "{echo}", "answer_chars": 300, "incomplete_after": 60}],
        faults=[
            {"fault": "new_message", "times": 0, "path": "/api/v0/chat/continue", "prompt_contains": MOVE}
        ],
    )
    with BackgroundServer(create_simulator(config)) as simulator:
        yield Upstream(simulator)


def serve(upstream: Upstream, data_dir: Path, port: int, **settings: str) -> Any:
    env = clean_env(
        DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(data_dir),
        DEEPSEEK_FREE_API_UPSTREAM_BASE_URL=upstream.server.url,
        DEEP_SEEK_CHAT_AUTHORIZATION=",".join(TOKENS),
        API_KEYS=API_KEY,
        DEEPSEEK_FREE_API_POOL_MIN_INTERVAL_S="0",
        **settings,
    )
    return running([*CLI, "serve", "--port", str(port)], port, env=env)


def post(server: Running, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.post(server.url + "/v1" + path, json=body, headers=headers, timeout=30)


def get(server: Running, path: str, method: str = "GET") -> httpx.Response:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.request(method, server.url + "/v1" + path, headers=headers, timeout=30)


def image_input(text: str, image: bytes) -> list[dict[str, Any]]:
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    return [
        {
            "role": "user",
            "content": [{"type": "input_text", "text": text}, {"type": "input_image", "image_url": url}],
        }
    ]


def test_stored_responses_survive_a_restart(upstream: Upstream, tmp_path: Path) -> None:
    port = free_port()
    with serve(upstream, tmp_path, port) as first:
        text = post(first, "/responses", {"model": "deepseek-chat", "input": "remember PINEAPPLE"})
        assert text.status_code == 200, text.text
        picture = post(first, "/responses", {"model": "deepseek-v4-vision", "input": image_input("see", PNG)})
        assert picture.status_code == 200, picture.text
    text_session, picture_session = (
        c["body"]["chat_session_id"] for c in upstream.requests("/chat/completion")[-2:]
    )
    uploads = len(upstream.requests("/file/upload_file"))

    with serve(upstream, tmp_path, port) as again:
        kept = get(again, f"/responses/{text.json()['id']}")
        assert kept.status_code == 200 and kept.json() == text.json()
        items = get(again, f"/responses/{text.json()['id']}/input_items").json()["data"]
        assert items[0]["content"][0]["text"] == "remember PINEAPPLE"
        follow = post(
            again,
            "/responses",
            {"model": "deepseek-chat", "input": "what?", "previous_response_id": text.json()["id"]},
        )
        assert follow.status_code == 200, follow.text
        # It goes on in the stored answer's session (which holds "remember PINEAPPLE"), after a restart too.
        went_on = upstream.requests("/chat/completion")[-1]
        assert went_on["prompt"] == "what?" and went_on["body"]["chat_session_id"] == text_session
        on_picture = {
            "model": "deepseek-v4-vision",
            "input": "and now?",
            "previous_response_id": picture.json()["id"],
        }
        assert post(again, "/responses", on_picture).status_code == 200
        went_on = upstream.requests("/chat/completion")[-1]["body"]
        assert (
            went_on["chat_session_id"] == picture_session and went_on["ref_file_ids"] == []
        )  # in the session
        assert len(upstream.requests("/file/upload_file")) == uploads  # not re-sent
        deleted = get(again, f"/responses/{text.json()['id']}", "DELETE")
        assert deleted.status_code == 200 and deleted.json()["deleted"] is True
        assert get(again, f"/responses/{text.json()['id']}").status_code == 404


def test_a_conversation_id_whose_answer_moved_continues_after_the_moved_message_after_a_restart(
    upstream: Upstream, tmp_path: Path
) -> None:
    port = free_port()
    with serve(upstream, tmp_path, port) as first:
        reply = post(
            first,
            "/chat/completions",
            {"model": "deepseek-chat", "messages": [{"role": "user", "content": f"{MOVE} please"}]},
        )
        assert reply.status_code == 200, reply.text
    conversation_id = reply.json()["id"]
    continued = upstream.requests("/chat/continue")[-1]
    moved_from = continued["body"]["message_id"]
    assert conversation_id.split("@")[1].startswith(f"{moved_from}.")  # the caller holds the first id

    with serve(upstream, tmp_path, port) as again:
        body = {
            "model": "deepseek-chat",
            "conversation_id": conversation_id,
            "messages": [{"role": "user", "content": "next"}],
        }
        follow = post(again, "/chat/completions", body)
        assert follow.status_code == 200, follow.text
    completion = upstream.requests("/chat/completion")[-1]["body"]
    assert completion["chat_session_id"] == conversation_id.split("@")[0]
    assert completion["parent_message_id"] > moved_from  # after the message the answer moved to


def test_a_stored_response_holds_no_image_bytes(upstream: Upstream, tmp_path: Path) -> None:
    # On the base code 20 responses with a 2 MB image each held 40 MB in the server's memory while the
    # store counted a few kB; now the store keeps DeepSeek's file ids, never the bytes.
    port = free_port()
    bound = str(1024 * 1024)
    with serve(upstream, tmp_path, port, DEEPSEEK_FREE_API_STORE_RESPONSES_MAX_BYTES=bound) as server:
        ids = [_picture(server, 0)]
        rss_before = _rss(server)
        ids += [_picture(server, n) for n in range(1, 21)]
        growth = _rss(server) - rss_before
        assert growth < 16 * 1024 * 1024, (
            f"RSS grew by {growth / 2**20:.1f} MiB over 20 responses of 2 MB images"
        )
        kept = [get(server, f"/responses/{response_id}").status_code for response_id in ids]
        assert kept == [200] * len(ids)  # each record is small: all of them fit the 1 MB bound
    stored = sum(path.stat().st_size for path in tmp_path.iterdir())
    assert stored < 1024 * 1024, f"the data directory holds {stored} bytes"


def _picture(server: Running, n: int) -> str:
    image = PNG + os.urandom(2 * 1024 * 1024)
    reply = post(
        server, "/responses", {"model": "deepseek-v4-vision", "input": image_input(f"picture {n}", image)}
    )
    assert reply.status_code == 200, reply.text
    response_id: str = reply.json()["id"]
    return response_id


def _rss(server: Running) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kilobytes) * 1024
