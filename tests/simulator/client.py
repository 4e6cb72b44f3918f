"""A small DeepSeek web client for the simulator's own tests: PoW solving, SSE reading."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from deepseek_free_api.upstream.pow.reference import solve_reference

WEB_HEADERS = {
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0",
    "X-Client-Platform": "web",
    "X-Client-Version": "2.5.0",
    "X-App-Version": "20241129.1",
}


def encode_pow(challenge: dict[str, Any], answer: int, **overrides: Any) -> str:
    """The X-Ds-Pow-Response value: compact JSON in web key order, standard base64."""
    data = {
        "algorithm": challenge["algorithm"],
        "challenge": challenge["challenge"],
        "salt": challenge["salt"],
        "answer": answer,
        "signature": challenge["signature"],
        "target_path": challenge["target_path"],
    }
    data.update(overrides)
    return base64.b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()


def solve(challenge: dict[str, Any]) -> int:
    """The answer of a (small-difficulty) challenge."""
    prefix = f"{challenge['salt']}_{challenge['expire_at']}_".encode()
    answer = solve_reference(bytes.fromhex(challenge["challenge"]), prefix, int(challenge["difficulty"]))
    assert answer is not None
    return answer


@dataclass
class Event:
    """One SSE event."""

    name: str | None
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


def parse_sse(text: str) -> list[Event]:
    """Events of an SSE body (blank-line separated, `:` comments skipped)."""
    events = []
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if data:
            events.append(Event(name, "\n".join(data)))
    return events


def apply_frames(events: list[Event]) -> dict[str, Any]:
    """Replay patch frames into a state tree (sticky p/o, BATCH, negative indexes)."""
    from deepseek_free_api.simulator import patch

    root: dict[str, Any] = {}
    sticky = patch.Sticky()
    for event in events:
        if event.name is not None or event.data == "[DONE]":
            continue
        data = event.json()
        if "v" not in data:
            continue
        if "p" not in data and "o" not in data and isinstance(data["v"], dict) and "response" in data["v"]:
            sticky = patch.Sticky()
        patch.apply(root, data, sticky)
    return root


@dataclass
class Sim:
    """A logged-in client of one simulator account."""

    client: httpx.Client
    token: str
    headers: dict[str, str] = field(default_factory=dict)

    def h(self, **extra: str) -> dict[str, str]:
        return {**WEB_HEADERS, "Authorization": f"Bearer {self.token}", **self.headers, **extra}

    def post(self, path: str, body: Any = None, **extra: str) -> httpx.Response:
        return self.client.post(
            f"/api/v0/{path}", json=body if body is not None else {}, headers=self.h(**extra)
        )

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(f"/api/v0/{path}", params=params, headers=self.h())

    def challenge(self, target: str = "/api/v0/chat/completion") -> dict[str, Any]:
        r = self.post("chat/create_pow_challenge", {"target_path": target})
        assert r.status_code == 200, r.text
        challenge: dict[str, Any] = r.json()["data"]["biz_data"]["challenge"]
        return challenge

    def pow_header(self, target: str = "/api/v0/chat/completion") -> str:
        challenge = self.challenge(target)
        return encode_pow(challenge, solve(challenge))

    def session(self) -> str:
        r = self.post("chat_session/create", {})
        session_id: str = r.json()["data"]["biz_data"]["chat_session"]["id"]
        return session_id

    def completion_body(self, session_id: str, prompt: str, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "chat_session_id": session_id,
            "parent_message_id": None,
            "model_type": "default",
            "prompt": prompt,
            "ref_file_ids": [],
            "thinking_enabled": False,
            "search_enabled": False,
            "action": None,
            "preempt": False,
        }
        body.update(fields)
        return body

    def complete(self, session_id: str, prompt: str, *, headers: dict[str, str] | None = None,
                 **fields: Any) -> httpx.Response:  # fmt: skip
        extra = {"X-Ds-Pow-Response": self.pow_header(), **(headers or {})}
        return self.post("chat/completion", self.completion_body(session_id, prompt, **fields), **extra)


def answer_text(tree: dict[str, Any]) -> str:
    """Visible answer of a generation-3 tree (RESPONSE fragments)."""
    return "".join(f["content"] for f in tree["response"]["fragments"] if f["type"] == "RESPONSE")


def thinking_text(tree: dict[str, Any]) -> str:
    """Reasoning of a generation-3 tree (THINK fragments)."""
    return "".join(f["content"] for f in tree["response"]["fragments"] if f["type"] == "THINK")
