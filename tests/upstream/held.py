"""What the stream tests share about holds (``StreamBody.hold``): watching them, and a stream
closed while its transfer waits (held or paused) followed by the next one on the same client."""

from __future__ import annotations

from collections.abc import Callable

from deepseek_free_api.upstream.client import CompletionParams, DeepSeekClient
from deepseek_free_api.upstream.stream import UpstreamStream
from deepseek_free_api.upstream.wire import Identity

ALPHA = Identity(token="tok-alpha", device_id="device-alpha")


def on_hold(stream: UpstreamStream, seen: Callable[[float], None]) -> None:
    """Call ``seen(until)`` each time the opened ``stream``'s reader holds its transfer."""
    answer = stream._response
    hold = answer.hold

    def holding(until: float) -> None:
        seen(until)
        hold(until)

    answer.hold = holding


async def next_stream(client: DeepSeekClient) -> bytes:
    """Another completion on ``client``, read whole."""
    again = client.completion(ALPHA, CompletionParams("session-1", "hello"), "pow")
    await again.open()
    try:
        return b"".join([chunk async for chunk in again])
    finally:
        await again.aclose()


async def closed_while_held(client: DeepSeekClient, stream: UpstreamStream, tries: int) -> bytes:
    """Read the opened ``stream`` (steady after its first chunk) until its transfer is held, at most
    ``tries`` chunks more; close it there; then the next stream on ``client``, read whole."""
    sink = stream._response.taken.__self__
    chunks = aiter(stream)
    await anext(chunks)
    stream.steady()
    for _ in range(tries):  # chunks close together: the stream is fast, and held after a few
        await anext(chunks)
        if sink.held:
            break
    assert sink.held and not sink.paused
    await stream.aclose()
    return await next_stream(client)


async def read_steady(stream: UpstreamStream) -> list[bytes]:
    """The opened ``stream``'s chunks to its end, told steady from its first (as a turn does once
    its first token is out)."""
    pieces: list[bytes] = []
    async for piece in stream:
        pieces.append(piece)
        stream.steady()
    return pieces
