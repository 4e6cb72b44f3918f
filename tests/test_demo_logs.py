"""``serve --demo`` prints the server's log, not the in-process simulator's access lines."""

from __future__ import annotations

import re

from deepseek_free_api.background import free_port
from tests.test_commands import CLI, answer, chat, running


def test_the_demo_log_shows_the_servers_requests_and_not_the_simulators() -> None:
    port = free_port()
    with running([*CLI, "serve", "--demo", "--port", str(port)], port) as server:
        assert answer(chat(server.url, "sk-my-service-key", "quiet please")).startswith("Echo: quiet please")
    assert server.stopped_gracefully
    assert '"POST /v1/chat/completions HTTP/1.1" 200' in server.output  # the user's own request
    # The simulator's side of it (chat_session/create, create_pow_challenge, chat/completion under
    # /api/v0) is not the user's business unless it is a warning, and then it says where it is from.
    foreign = [
        line for line in server.output.splitlines() if "/api/v0/" in line and "[simulator]" not in line
    ]
    assert foreign == [], "\n".join(foreign)
    assert len(re.findall(r"Uvicorn running on", server.output)) == 1
