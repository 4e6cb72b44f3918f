"""The values the DeepSeek client speaks in: paths, who calls, what a completion or upload sends."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from deepseek_free_api.errors import UpstreamProtocolError
from deepseek_free_api.upstream.persona import Locality

if TYPE_CHECKING:
    from deepseek_free_api.settings import TimezoneOffset

API = "/api/v0"
COMPLETION_PATH = f"{API}/chat/completion"
UPLOAD_PATH = f"{API}/file/upload_file"


class AccountLike(Protocol):
    """What an identity is made of (``accounts.Account`` has it)."""

    @property
    def token(self) -> str | None: ...
    @property
    def device_id(self) -> str: ...
    @property
    def proxy(self) -> str | None: ...
    @property
    def locale(self) -> str | None: ...
    @property
    def timezone_offset(self) -> TimezoneOffset | None: ...


@dataclass(frozen=True, slots=True)
class Identity:
    """Whose request this is: a DeepSeek token, that account's stable device id, and its proxy if any."""

    token: str = field(repr=False)
    device_id: str
    proxy: str | None = field(default=None, repr=False)  # the account's own HTTP/SOCKS proxy
    locality: Locality = Locality()  # the account's own locale and time zone, if it has them

    @classmethod
    def of(cls, account: AccountLike, token: str | None = None) -> Identity:
        """The identity ``account`` calls with (``token``: instead of its own, e.g. just logged in)."""
        return cls(
            token=token or account.token or "",
            device_id=account.device_id,
            proxy=account.proxy,
            locality=locality_of(account),
        )


def locality_of(account: AccountLike) -> Locality:
    """The account's own locale and time zone (None where it has none)."""
    return Locality(account.locale, account.timezone_offset)


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

    def multipart(self) -> tuple[str, bytes]:
        """The Content-Type and body of a form with one part named ``file``, as Chrome sends it."""
        # Built here rather than by curl's mime API: the bytes and the boundary are ours to check.
        # The boundary looks like Chrome's (----WebKitFormBoundary + 16 characters).
        boundary = "----WebKitFormBoundary" + secrets.token_urlsafe(12)[:16]
        filename = self.filename.replace('"', "%22").replace("\r", " ").replace("\n", " ")
        body = b"".join(
            (
                f"--{boundary}\r\n".encode(),
                f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'.encode(),
                f"Content-Type: {self.media_type}\r\n\r\n".encode(),
                self.data,
                f"\r\n--{boundary}--\r\n".encode(),
            )
        )
        return f"multipart/form-data; boundary={boundary}", body


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
