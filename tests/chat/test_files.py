"""Attachments: content parts parsed into uploads, the URL guard, and DeepSeek's verdict on each file.

The URL guard is tested against a real HTTP server on 127.0.0.1, which it must refuse unless a test
explicitly allows that one address; redirects to other private addresses stay refused.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from deepseek_free_api.chat.addresses import IPAddress, is_public_address
from deepseek_free_api.chat.content import split_content
from deepseek_free_api.chat.files import AttachmentUploader
from deepseek_free_api.chat.models import parse_model
from deepseek_free_api.chat.remote import RemoteFetcher
from deepseek_free_api.chat.request import Attachment, ChatMessage, ChatRequest
from deepseek_free_api.errors import (
    PayloadTooLargeError,
    RequestError,
    UnsupportedContentError,
    UpstreamTimeoutError,
)
from deepseek_free_api.upstream.client import UPLOAD_PATH, FileUpload, Identity, UploadedFile

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PNG_B64 = base64.b64encode(PNG).decode()

# -- content parts -------------------------------------------------------------------------------


def data(attachment: Attachment) -> bytes:
    """What the uploader sends for an inline attachment (decoded only then)."""
    assert attachment.inline is not None
    return attachment.inline.decode()


def test_openai_image_and_file_parts_become_attachments_and_the_text_stays() -> None:
    text, found = split_content(
        [
            {"type": "text", "text": "Compare"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_B64}},
            {
                "type": "file",
                "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
            },
            {"type": "file", "file": {"filename": "notes.txt", "file_data": "aGk="}},
        ],
        param="messages.0.content",
    )
    assert text == "Compare"
    image, pdf, notes = found
    assert (image.kind, image.media_type, data(image), image.filename) == (
        "image",
        "image/png",
        PNG,
        "image.png",
    )
    assert image.param == "messages.0.content.1.image_url.url"
    assert (pdf.kind, pdf.filename, pdf.media_type, data(pdf)) == (
        "file",
        "a.pdf",
        "application/pdf",
        b"%PDF-",
    )
    assert (notes.filename, notes.media_type, data(notes)) == ("notes.txt", "text/plain", b"hi")


def test_responses_and_anthropic_shapes_become_the_same_attachments() -> None:
    _, found = split_content(
        [
            {"type": "input_image", "image_url": "data:image/png;base64," + PNG_B64},
            {"type": "input_file", "filename": "n.txt", "file_data": "data:text/plain;base64,aGk="},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}},
            {
                "type": "document",
                "title": "spec.txt",
                "source": {"type": "text", "media_type": "text/plain", "data": "hi"},
            },
            {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
        ]
    )
    assert [a.kind for a in found] == ["image", "file", "image", "file", "image"]
    assert data(found[1]) == data(found[3]) == b"hi" and data(found[2]) == PNG
    assert found[4].url == "https://example.com/cat.png" and found[4].inline is None


_TEXT_AS_IMAGE = {"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}}
_FTP_IMAGE = {"type": "image_url", "image_url": {"url": "ftp://example.com/x.png"}}
_STORED_FILE = {"type": "file", "file": {"file_id": "file-abc"}}
_AUDIO = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}


@pytest.mark.parametrize(
    ("part", "param", "error"),
    [
        (_TEXT_AS_IMAGE, "0.image_url.url", UnsupportedContentError),
        (_FTP_IMAGE, "0.image_url.url", RequestError),
        (_STORED_FILE, "0.file.file_id", UnsupportedContentError),
        (_AUDIO, "0", UnsupportedContentError),
    ],
)
def test_undeliverable_or_malformed_parts_are_a_400_naming_the_part(
    part: dict[str, Any], param: str, error: type[Exception]
) -> None:
    with pytest.raises(error) as caught:
        split_content([part], param="content")
    assert isinstance(caught.value, RequestError) and caught.value.param == "content." + param


def _request(model: str, *parts: dict[str, Any]) -> ChatRequest:
    _, found = split_content(list(parts), param="messages.0.content")
    return ChatRequest(parse_model(model), (ChatMessage("user", "look", attachments=found),))


def test_an_image_needs_the_vision_model_and_the_error_names_it() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_B64}}
    assert _request("deepseek-v4-vision", image).attachments
    with pytest.raises(UnsupportedContentError) as caught:
        _request("deepseek-r1", image)
    assert "'deepseek-v4-vision'" in caught.value.message  # r1 thinks: the vision model does by default
    with pytest.raises(UnsupportedContentError) as caught:
        _request("deepseek-chat", image)
    assert "'deepseek-v4-vision-nothinking'" in caught.value.message


def test_a_file_on_the_expert_model_is_refused_because_deepseek_ignores_it() -> None:
    notes = {"type": "file", "file": {"filename": "n.txt", "file_data": "aGk="}}
    assert _request("deepseek-v4-flash", notes).attachments
    with pytest.raises(UnsupportedContentError, match="expert"):
        _request("deepseek-v4-pro", notes)


# -- the URL guard -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "127.0.0.2", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255",
        "::1", "::", "fe80::1", "fc00::1", "fd12:3456::1", "ff02::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "2002:7f00:1::1",
    ],
)  # fmt: skip
def test_private_loopback_link_local_and_reserved_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))


class _Site:
    """A small HTTP server on 127.0.0.1 that records what it was asked."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        self.stop = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                site.hits.append(self.path)
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                if parts.path == "/cat.png":
                    self._send(200, PNG, {"Content-Type": "image/png"})
                elif parts.path == "/redirect":
                    self._send(302, b"", {"Location": query["to"][0]})
                elif parts.path == "/big":
                    self._send(200, b"x" * 5000, {"Content-Type": "text/plain"})
                elif parts.path == "/unsized":  # no Content-Length: read until the connection closes
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    for _ in range(50):
                        self.wfile.write(b"y" * 200)
                elif parts.path == "/stall":
                    site.stop.wait(10)
                else:
                    self._send(404, b"", {})

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
def site() -> Iterator[_Site]:
    running = _Site()
    running.thread.start()
    try:
        yield running
    finally:
        running.stop.set()
        running.server.shutdown()
        running.server.server_close()


def only(*addresses: str) -> Any:
    allowed = {ipaddress.ip_address(a) for a in addresses}

    def policy(address: IPAddress) -> bool:
        return address in allowed

    return policy


def fetcher(**options: Any) -> RemoteFetcher:
    return RemoteFetcher(**{"max_bytes": 4096, "timeout_s": 5.0, **options})


def fetch(fetch_with: RemoteFetcher, url: str) -> Any:
    return asyncio.run(fetch_with.fetch(url, "messages.0.content.0.image_url.url"))


def refused_code(fetch_with: RemoteFetcher, url: str) -> str | None:
    with pytest.raises(RequestError) as caught:
        fetch(fetch_with, url)
    assert caught.value.param == "messages.0.content.0.image_url.url"
    return caught.value.code


def test_a_server_on_loopback_is_refused_by_default_and_never_contacted(site: _Site) -> None:
    assert refused_code(fetcher(), site.url("/cat.png")) == "url_refused"
    assert refused_code(fetcher(), site.url("/cat.png", host="localhost")) == "url_refused"
    assert refused_code(fetcher(), site.url("/cat.png", host="[::1]")) == "url_refused"
    assert site.hits == []


def test_an_explicitly_allowed_address_is_fetched(site: _Site) -> None:
    fetched = fetch(fetcher(address_allowed=only("127.0.0.1")), site.url("/cat.png"))
    assert (fetched.data, fetched.media_type, fetched.filename) == (PNG, "image/png", "cat.png")


@pytest.mark.parametrize(
    "target",
    ["http://169.254.169.254/latest/meta-data/", "http://127.0.0.2:{port}/cat.png", "http://[::1]:{port}/cat.png",
     "http://10.0.0.1/", "http://[::ffff:127.0.0.1]:{port}/cat.png"],
)  # fmt: skip
def test_a_redirect_to_a_private_address_is_refused(site: _Site, target: str) -> None:
    url = site.url("/redirect?to=" + target.format(port=site.port))
    assert refused_code(fetcher(address_allowed=only("127.0.0.1")), url) == "url_refused"
    assert site.hits == [
        "/redirect?to=" + target.format(port=site.port)
    ]  # nothing behind the redirect was asked


def test_a_redirect_to_an_allowed_address_is_followed_and_loops_end(site: _Site) -> None:
    allowed = fetcher(address_allowed=only("127.0.0.1"))
    assert fetch(allowed, site.url("/redirect?to=/cat.png")).data == PNG
    loop = site.url("/redirect?to=" + site.url("/redirect?to=/redirect"))
    assert refused_code(allowed, loop) == "url_fetch_failed"


def test_every_address_of_a_name_is_checked_and_the_connection_is_pinned_to_them(site: _Site) -> None:
    async def mixed(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "127.0.0.1"]

    async def loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    # One private address among public ones is enough to refuse.
    assert refused_code(fetcher(resolver=mixed), site.url("/cat.png", host="files.invalid")) == "url_refused"
    assert site.hits == []
    # The name does not exist in DNS: reaching the site proves curl used the checked address only.
    pinned = fetcher(resolver=loopback, address_allowed=only("127.0.0.1"))
    assert fetch(pinned, site.url("/cat.png", host="files.invalid")).data == PNG


def test_size_and_time_limits(site: _Site) -> None:
    allowed = fetcher(address_allowed=only("127.0.0.1"))
    for path in ("/big", "/unsized"):
        with pytest.raises(PayloadTooLargeError):
            fetch(allowed, site.url(path))
    slow = fetcher(address_allowed=only("127.0.0.1"), timeout_s=0.5)
    assert refused_code(slow, site.url("/stall")) == "url_fetch_failed"


# -- uploads and DeepSeek's verdict ------------------------------------------------------------


class _Upstream:
    """Scripted file states per upload: each fetch_files moves a file one state on."""

    def __init__(self, *states: UploadedFile) -> None:
        self.states = list(states)
        self.uploads: list[FileUpload] = []
        self.pow_paths: list[str] = []
        self.polls = 0

    async def pow_header(self, account_id: str, identity: Identity, target_path: str) -> str:
        self.pow_paths.append(target_path)
        return "pow"

    async def upload_file(self, identity: Identity, upload: FileUpload, pow_header: str) -> UploadedFile:
        self.uploads.append(upload)
        return self.states.pop(0)

    async def fetch_files(self, identity: Identity, file_ids: Sequence[str]) -> list[UploadedFile]:
        self.polls += 1
        return [self.states.pop(0)] if self.states else []


IDENTITY = Identity(token="t", device_id="d")


def _upload(upstream: _Upstream, request: ChatRequest, **options: Any) -> tuple[str, ...]:
    uploader = AttachmentUploader(upstream, upstream, **options)
    return asyncio.run(uploader.upload(request, "alpha", IDENTITY))


def _image_request() -> ChatRequest:
    return _request(
        "deepseek-v4-vision", {"type": "image_url", "image_url": {"url": "data:image/png;base64," + PNG_B64}}
    )


def test_the_upload_waits_for_success_and_the_image_audit() -> None:
    upstream = _Upstream(
        UploadedFile("file-1", "PENDING", is_image=True, audit_result="unknown"),
        UploadedFile("file-1", "PARSING", is_image=True, audit_result="unknown"),
        UploadedFile("file-1", "SUCCESS", is_image=True, audit_result="unknown"),
        UploadedFile("file-1", "SUCCESS", is_image=True, audit_result="pass"),
    )
    assert _upload(upstream, _image_request()) == ("file-1",)
    assert upstream.polls == 3 and upstream.pow_paths == [UPLOAD_PATH]
    [sent] = upstream.uploads
    assert (sent.filename, sent.media_type, sent.model_type, sent.thinking) == (
        "image.png",
        "image/png",
        "vision",
        True,
    )


@pytest.mark.parametrize(
    ("final", "reason"),
    [
        (UploadedFile("file-1", "FAILED", error_code="CONTENT_EMPTY"), "FAILED, CONTENT_EMPTY"),
        (UploadedFile("file-1", "PARSE_FAILED"), "PARSE_FAILED"),
        (UploadedFile("file-1", "SUCCESS", is_image=True, audit_result="reject"), "review (reject)"),
    ],
)
def test_a_file_deepseek_refuses_is_a_400_naming_the_part(final: UploadedFile, reason: str) -> None:
    upstream = _Upstream(UploadedFile("file-1", "PENDING", is_image=True), final)
    with pytest.raises(UnsupportedContentError) as caught:
        _upload(upstream, _image_request())
    assert caught.value.code == "file_rejected" and reason in caught.value.message
    assert caught.value.param == "messages.0.content.0.image_url.url"


def test_a_file_never_read_ends_in_a_timeout_not_a_silent_drop() -> None:
    upstream = _Upstream(*[UploadedFile("file-1", "PENDING")] * 100)
    request = _request("deepseek-chat", {"type": "file", "file": {"filename": "n.txt", "file_data": "aGk="}})
    with pytest.raises(UpstreamTimeoutError, match="files.parse_timeout_s"):
        _upload(upstream, request, parse_timeout_s=0.3)


def test_limits_and_the_remote_switch_are_checked_before_any_upload() -> None:
    many = _request(
        "deepseek-chat", *[{"type": "file", "file": {"filename": "n.txt", "file_data": "aGk="}}] * 3
    )
    upstream = _Upstream()
    with pytest.raises(RequestError, match="files.max_count"):
        _upload(upstream, many, max_count=2)
    with pytest.raises(PayloadTooLargeError):
        _upload(upstream, _image_request(), max_bytes=10)
    remote = _request(
        "deepseek-v4-vision", {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    )
    with pytest.raises(UnsupportedContentError, match="files.remote_urls"):
        _upload(upstream, remote)
    assert upstream.uploads == [] and upstream.pow_paths == []


def test_bad_base64_is_refused_naming_the_part_before_anything_is_uploaded() -> None:
    good = {"type": "file", "file": {"filename": "n.txt", "file_data": "aGk="}}
    bad = {"type": "image_url", "image_url": {"url": "data:image/png;base64,%%%"}}
    upstream = _Upstream(UploadedFile("file-1", "SUCCESS"))
    with pytest.raises(RequestError, match="not valid base64") as caught:
        _upload(upstream, _request("deepseek-v4-vision", good, bad))
    assert caught.value.param == "messages.0.content.1.image_url.url"
    assert upstream.uploads == []


def test_a_continued_conversation_uploads_only_the_new_messages_attachments() -> None:
    _, [old] = split_content([{"type": "file", "file": {"filename": "old.txt", "file_data": "aGk="}}])
    _, [new] = split_content([{"type": "file", "file": {"filename": "new.txt", "file_data": "aGk="}}])
    request = ChatRequest(
        parse_model("deepseek-chat"),
        (
            ChatMessage("user", "a", attachments=(old,)),
            ChatMessage("assistant", "b"),
            ChatMessage("user", "c", attachments=(new,)),
        ),
    )
    upstream = _Upstream(UploadedFile("file-2", "SUCCESS"))
    uploader = AttachmentUploader(upstream, upstream)
    assert asyncio.run(uploader.upload(request, "alpha", IDENTITY, continued=True)) == ("file-2",)
    assert [u.filename for u in upstream.uploads] == ["new.txt"]
    assert isinstance(old, Attachment)
