"""Uploads: PoW with its own path, status progression, failures, images, ref_file_ids."""

from __future__ import annotations

import httpx

from .client import Sim, answer_text, apply_frames, parse_sse
from .conftest import wait_until

UPLOAD = "/api/v0/file/upload_file"


def _upload(sim: Sim, name: str, content: bytes, mime: str = "text/plain", **headers: str) -> httpx.Response:
    extra = {"X-Ds-Pow-Response": sim.pow_header(UPLOAD), "x-file-size": str(len(content)),
             "x-model-type": "default", "x-thinking-enabled": "0", **headers}  # fmt: skip
    return sim.client.post(UPLOAD, files={"file": (name, content, mime)}, headers=sim.h(**extra))


def _status(sim: Sim, file_id: str) -> str:
    files = sim.get("file/fetch_files", file_ids=file_id).json()["data"]["biz_data"]["files"]
    return str(files[0]["status"])


def test_upload_goes_pending_parsing_success(sim: Sim) -> None:
    data = _upload(sim, "notes.txt", b"hello file").json()["data"]["biz_data"]
    assert data["status"] == "PENDING" and data["id"].startswith("file-") and data["file_size"] == 10
    assert data["is_image"] is False and data["model_kind"] == "NORMAL" and data["token_usage"] is None
    seen = {data["status"]}
    assert wait_until(lambda: seen.add(_status(sim, data["id"])) or "SUCCESS" in seen)  # type: ignore[func-returns-value]
    assert "PARSING" in seen or "SUCCESS" in seen


def test_empty_and_unsupported_files_fail(sim: Sim) -> None:
    empty = _upload(sim, "empty.txt", b"").json()["data"]["biz_data"]["id"]
    weird = _upload(sim, "tool.exe", b"MZ\x90", "application/octet-stream").json()["data"]["biz_data"]["id"]
    assert wait_until(lambda: _status(sim, empty) == "FAILED" and _status(sim, weird) == "FAILED")


def test_images_are_flagged(sim: Sim) -> None:
    data = _upload(sim, "cat.png", b"\x89PNG\r\n", "image/png", **{"x-model-type": "vision"}).json()
    assert data["data"]["biz_data"]["is_image"] is True and data["data"]["biz_data"]["model_kind"] == "VISION"


def test_upload_needs_pow_for_its_own_path(sim: Sim) -> None:
    wrong = sim.pow_header("/api/v0/chat/completion")
    response = _upload(sim, "a.txt", b"abc", **{"X-Ds-Pow-Response": wrong})
    assert response.json()["code"] == 40301


def test_ref_file_ids_must_be_parsed_files_of_the_same_account(sim: Sim, client: httpx.Client) -> None:
    file_id = _upload(sim, "notes.txt", b"hello").json()["data"]["biz_data"]["id"]
    session = sim.session()
    early = sim.complete(session, "hi", ref_file_ids=[file_id])
    assert early.json()["data"]["biz_code"] != 0  # still PENDING
    assert wait_until(lambda: _status(sim, file_id) == "SUCCESS")
    tree = apply_frames(parse_sse(sim.complete(session, "hi", ref_file_ids=[file_id]).text))
    assert "files=1" in answer_text(tree)
    other = Sim(client, "demo-token-2")
    assert other.complete(other.session(), "hi", ref_file_ids=[file_id]).json()["data"]["biz_code"] != 0
    assert other.get("file/fetch_files", file_ids=file_id).json()["data"]["biz_data"]["files"] == []
