"""``file/upload_file`` and ``file/fetch_files`` (PROTOCOL.md §4.8).

Uploads go PENDING -> PARSING -> SUCCESS over ``file_parse_seconds``; empty or unsupported files
end FAILED. Images are flagged ``is_image`` and are ``VISION`` kind when uploaded for vision.
"""

from __future__ import annotations

import time
import uuid
from pathlib import PurePosixPath
from typing import Any

from starlette.responses import Response

from .core import Call, pow_refusal
from .envelope import BodyInvalid, biz_error, ok
from .state import FileRecord

_TEXT = {".txt", ".md", ".csv", ".json", ".py", ".js", ".ts", ".html", ".xml", ".yaml", ".yml", ".log",
         ".java", ".c", ".cpp", ".h", ".go", ".rs", ".sh", ".toml", ".ini", ".sql"}  # fmt: skip
_DOCS = {".pdf", ".doc", ".docx", ".xls", ".xlsx", ".ppt", ".pptx", ".epub"}
_IMAGES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp"}


def parse_multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, str, bytes]]:
    """Parts of a multipart/form-data body: name -> (filename, content type, bytes)."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/form-data":
        return {}
    boundary = ""
    for param in params.split(";"):
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip('"')
    if not boundary:
        return {}
    parts: dict[str, tuple[str | None, str, bytes]] = {}
    for raw in body.split(b"--" + boundary.encode())[1:]:
        if raw.startswith(b"--"):
            break
        head, _, content = raw.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        name, filename, part_type = None, None, "application/octet-stream"
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                for item in value.split(";"):
                    k, _, v = item.strip().partition("=")
                    if k == "name":
                        name = v.strip('"')
                    elif k == "filename":
                        filename = v.strip('"')
            elif key.strip().lower() == "content-type":
                part_type = value.strip()
        if name:
            parts[name] = (filename, part_type, content)
    return parts


def file_status(record: FileRecord) -> str:
    """PENDING for the first third of the parse time, PARSING until its end, then terminal."""
    elapsed = time.time() - record.uploaded
    if elapsed >= record.parse_seconds:
        return "FAILED" if record.failure else "SUCCESS"
    return "PENDING" if elapsed < record.parse_seconds / 3 else "PARSING"


def file_json(record: FileRecord) -> dict[str, Any]:
    """A file as upload_file and fetch_files describe it."""
    status = file_status(record)
    done = status == "SUCCESS"
    data: dict[str, Any] = {
        "id": record.id,
        "status": status,
        "file_name": record.file_name,
        "previewable": False,
        "file_size": record.file_size,
        "token_usage": max(1, record.file_size // 4) if done else None,
        "error_code": record.failure if status == "FAILED" else None,
        "inserted_at": record.uploaded,
        "updated_at": record.uploaded,
        "model_kind": record.model_kind,
        "is_image": record.is_image,
        "audit_result": ("pass" if done else "unknown") if record.is_image else None,
    }
    if record.is_image:
        data.update({"width": None, "height": None})
    if done:
        data["signed_path"] = f"/sim-files/{record.id}/{record.file_name}"
    return data


async def upload_file(call: Call) -> Response:
    """One multipart part named ``file``; PoW for /api/v0/file/upload_file; 2026 x-file-size header."""
    parts = parse_multipart(call.request.headers.get("content-type", ""), call.body)
    if "file" not in parts or parts["file"][0] is None:
        raise BodyInvalid(
            [{"type": "missing", "loc": ["body", "file"], "msg": "Field required", "input": None}]
        )
    refusal = pow_refusal(call)
    if refusal is not None:
        return refusal
    filename, part_type, content = parts["file"]
    assert filename is not None
    declared = call.request.headers.get("x-file-size")
    if declared is not None and declared.strip() != str(len(content)):
        return biz_error(1, "FILE_SIZE_MISMATCH")  # the simulator's choice of code
    suffix = PurePosixPath(filename).suffix.lower()
    is_image = suffix in _IMAGES or part_type.startswith("image/")
    failure = None
    if not content:
        failure = "CONTENT_EMPTY"
    elif not (is_image or suffix in _TEXT | _DOCS or part_type.startswith("text/")):
        failure = "UNSUPPORTED_FILE_TYPE"
    vision = call.request.headers.get("x-model-type", "default") == "vision"
    record = FileRecord(
        id=f"file-{uuid.uuid4()}",
        account_id=call.user.id,
        file_name=filename,
        file_size=len(content),
        is_image=is_image,
        model_kind="VISION" if vision else "NORMAL",
        uploaded=time.time(),
        failure=failure,
        parse_seconds=call.sim.config.file_parse_seconds,
    )
    call.sim.world.files[record.id] = record
    call.sim.world.count("uploads")
    call.entry["body"] = {"file_name": filename, "file_size": len(content), "content_type": part_type}
    return ok(file_json(record))


async def fetch_files(call: Call) -> Response:
    """``?file_ids=a,b``: the caller's files among them."""
    raw = call.request.query_params.get("file_ids")
    if raw is None:
        missing = {"type": "missing", "loc": ["query", "file_ids"], "msg": "Field required", "input": None}
        raise BodyInvalid([missing])
    files = []
    for file_id in [f.strip() for f in raw.split(",") if f.strip()]:
        record = call.sim.world.files.get(file_id)
        if record is not None and record.account_id == call.user.id:
            files.append(file_json(record))
    return ok({"files": files})
