"""The values the DeepSeek client speaks in: paths, who calls, what a completion or upload sends."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deepseek_free_api.errors import UpstreamProtocolError

API = "/api/v0"
COMPLETION_PATH = f"{API}/chat/completion"
UPLOAD_PATH = f"{API}/file/upload_file"


@dataclass(frozen=True, slots=True)
class Identity:
    """Whose request this is: a DeepSeek token, that account's stable device id, and its proxy if any."""

    token: str = field(repr=False)
    device_id: str
    proxy: str | None = field(default=None, repr=False)  # the account's own HTTP/SOCKS proxy


@dataclass(frozen=True, slots=True)
class CompletionParams:
    """The body of ``chat/completion`` (PROTOCOL.md §4.2, 2026 web shape)."""

    session_id: str
    prompt: str
    model_type: str = "default"
    thinking: bool = False
    search: bool = False
    parent_message_id: int | None = None
    ref_file_ids: tuple[str, ...] = ()

    def body(self) -> dict[str, Any]:
        """The JSON body DeepSeek expects."""
        return {
            "chat_session_id": self.session_id,
            "parent_message_id": self.parent_message_id,
            "model_type": self.model_type,
            "prompt": self.prompt,
            "ref_file_ids": list(self.ref_file_ids),
            "thinking_enabled": self.thinking,
            "search_enabled": self.search,
            "action": None,
            "preempt": False,
        }


@dataclass(frozen=True, slots=True)
class FileUpload:
    """One file to send to ``file/upload_file`` (PROTOCOL.md §4.8)."""

    filename: str
    media_type: str
    data: bytes = field(repr=False)
    model_type: str = "default"  # x-model-type: images need "vision"
    thinking: bool = False


@dataclass(frozen=True, slots=True)
class UploadedFile:
    """A file as ``upload_file`` and ``fetch_files`` describe it."""

    id: str
    status: str  # PENDING, PARSING, SUCCESS, FAILED (and, defensively, others)
    file_name: str = ""
    is_image: bool = False
    error_code: str | None = None
    audit_result: str | None = None  # images: "unknown" until checked, then "pass" (or a refusal)

    @classmethod
    def from_json(cls, data: Any) -> UploadedFile:
        """From DeepSeek's file object; UpstreamProtocolError if it has no id or status."""
        if not isinstance(data, Mapping) or not data.get("id") or not data.get("status"):
            raise UpstreamProtocolError("DeepSeek described an uploaded file without id or status")
        error, audit = data.get("error_code"), data.get("audit_result")
        return cls(
            id=str(data["id"]),
            status=str(data["status"]).upper(),
            file_name=str(data.get("file_name") or ""),
            is_image=bool(data.get("is_image")),
            error_code=str(error) if error else None,
            audit_result=str(audit) if audit else None,
        )
