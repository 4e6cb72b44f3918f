"""Proof of work: real DeepSeekHashV1 challenges, strictly checked (PROTOCOL.md §3)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

import httpx

from deepseek_free_api.upstream.pow.reference import deepseek_hash_v1

from .client import WEB_HEADERS, Sim, encode_pow, solve

INVALID_POW = {"code": 40301, "msg": "INVALID_POW_RESPONSE", "data": None}


def test_challenge_is_a_real_deepseek_hash_v1_challenge(sim: Sim) -> None:
    challenge = sim.challenge()
    assert challenge["algorithm"] == "DeepSeekHashV1"
    assert challenge["target_path"] == "/api/v0/chat/completion"
    assert challenge["difficulty"] == 64 and challenge["expire_after"] == 300000
    assert abs(challenge["expire_at"] - (time.time() * 1000 + 300000)) < 60000  # milliseconds
    assert len(challenge["challenge"]) == 64 and len(challenge["salt"]) == 20
    assert len(challenge["signature"]) == 64
    answer = solve(challenge)
    prefix = f"{challenge['salt']}_{challenge['expire_at']}_{answer}".encode()
    assert deepseek_hash_v1(prefix).hex() == challenge["challenge"]


def test_a_correct_answer_is_accepted_once(sim: Sim) -> None:
    session = sim.session()
    header = sim.pow_header()
    body = sim.completion_body(session, "hi")
    first = sim.post("chat/completion", body, **{"X-Ds-Pow-Response": header})
    assert first.headers["content-type"].startswith("text/event-stream")
    again = sim.post("chat/completion", body, **{"X-Ds-Pow-Response": header})
    assert again.status_code == 200 and again.json() == INVALID_POW


def _rejected(sim: Sim, header: str | None, path: str = "chat/completion") -> bool:
    session = sim.session()
    extra = {"X-Ds-Pow-Response": header} if header is not None else {}
    response = sim.post(path, sim.completion_body(session, "hi"), **extra)
    return response.status_code == 200 and response.json() == INVALID_POW


def test_wrong_answer_is_rejected(sim: Sim) -> None:
    challenge = sim.challenge()
    wrong = (solve(challenge) + 1) % challenge["difficulty"]
    assert _rejected(sim, encode_pow(challenge, wrong))


def test_wrong_target_path_is_rejected(sim: Sim) -> None:
    challenge = sim.challenge("/api/v0/chat/edit_message")
    assert _rejected(sim, encode_pow(challenge, solve(challenge)))
    # Claiming the right path in the header does not help: the signature binds the issued path.
    assert _rejected(sim, encode_pow(challenge, solve(challenge), target_path="/api/v0/chat/completion"))


def test_bad_signature_is_rejected(sim: Sim) -> None:
    challenge = sim.challenge()
    forged = "0" * 64
    assert _rejected(sim, encode_pow(challenge, solve(challenge), signature=forged))


def test_missing_malformed_and_wrong_algorithm_are_rejected(sim: Sim) -> None:
    assert _rejected(sim, None)
    assert _rejected(sim, "not-base64!!")
    assert _rejected(sim, base64.b64encode(b"[1,2]").decode())
    challenge = sim.challenge()
    assert _rejected(sim, encode_pow(challenge, solve(challenge), algorithm="SHA3-256"))


def test_expired_answer_is_rejected(custom: Callable[..., AbstractContextManager[httpx.Client]]) -> None:
    with custom(pow_expire_after_ms=150) as client:
        sim = Sim(client, "demo-token-1")
        challenge = sim.challenge()
        header = encode_pow(challenge, solve(challenge))
        time.sleep(0.3)
        assert _rejected(sim, header)


def test_missing_user_agent_on_challenge_is_http_429(client: httpx.Client) -> None:
    headers = {**WEB_HEADERS, "User-Agent": "", "Authorization": "Bearer demo-token-1"}
    body = {"target_path": "/api/v0/chat/completion"}
    response = client.post("/api/v0/chat/create_pow_challenge", json=body, headers=headers)
    assert response.status_code == 429


def test_rejections_are_counted(sim: Sim, client: httpx.Client) -> None:
    _rejected(sim, None)
    assert client.get("/_sim/state").json()["counters"]["pow_rejected"] == 1
