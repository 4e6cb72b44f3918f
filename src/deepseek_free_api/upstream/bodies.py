"""Where a transfer's body goes (a handle's write callback), and the bounds on what is held.

Neither an upstream nor a client can make the server buffer without end: a whole answer is read
up to a limit (``upstream.max_answer_bytes``), and a stream's bytes not yet taken by its reader
up to a bound (``upstream.stream_buffer_bytes``), past which the transfer pauses until the
reader catches up.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from curl_cffi._wrapper import lib
from curl_cffi.curl import CURL_WRITEFUNC_ERROR, CURL_WRITEFUNC_PAUSE, CURLPAUSE_CONT, CURLPAUSE_RECV

from deepseek_free_api.upstream.first_tokens import first_token_work

if TYPE_CHECKING:
    from deepseek_free_api.upstream.handles import Handle

STREAM_END = object()  # the last item of a stream's queue when it ended without an error
# Defaults of ``upstream.max_answer_bytes`` and ``upstream.stream_buffer_bytes`` (settings.py).
MAX_ANSWER_BYTES = 4 * 1024 * 1024  # DeepSeek's JSON answers are a few KB
STREAM_BUFFER_BYTES = 64 * 1024


class AnswerTooLarge(Exception):
    """An answer's body passed the most bytes the call reads; its transfer was cut there."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer was larger than {limit} bytes")
        self.limit = limit


class WholeBody:
    """Where a handle's callbacks put a whole answer's header lines and body, at most ``limit`` bytes.

    A body that passes the limit ends the transfer in the write callback, as the bytes arrive:
    a broken or hostile upstream (or a proxy) sending an endless body is never buffered whole.
    """

    __slots__ = ("headers", "chunks", "size", "limit")

    def __init__(self, limit: int) -> None:
        self.headers: list[bytes] = []
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit

    def body(self, chunk: bytes) -> int:
        self.size += len(chunk)
        if self.size > self.limit:
            return CURL_WRITEFUNC_ERROR  # libcurl ends the transfer (CURLE_WRITE_ERROR)
        self.chunks.append(chunk)
        return len(chunk)


class ChunkQueue(asyncio.Queue[Any]):
    """``asyncio.Queue``'s unbounded queue for one reader, without its four deques (~2.5 KB a stream).

    What the stream's reader and writer use (``put_nowait``, ``get``, ``get_nowait``, ``empty``,
    ``qsize``, and ``_queue`` for a look at what is queued) behaves as asyncio's; ``join`` and
    ``task_done`` are not kept. The items are a list read from ``_head`` on, emptied whenever the
    reader catches up (the reader takes all that is ready on every wake) and compacted otherwise.
    """

    _maxsize = 0  # what asyncio.Queue's ``maxsize`` and ``repr`` read
    _unfinished_tasks = 0
    _getters = _putters = ()

    def __init__(self) -> None:  # asyncio.Queue.__init__ would make the deques
        self._items: list[Any] = []
        self._head = 0
        self._waiter: asyncio.Future[None] | None = None

    @property
    def _queue(self) -> list[Any]:
        """The items queued, first first (a copy)."""
        return self._items[self._head :]

    def qsize(self) -> int:
        """How many items are queued."""
        return len(self._items) - self._head

    def empty(self) -> bool:
        """Whether no item is queued."""
        return self._head == len(self._items)

    def full(self) -> bool:
        """Never: the queue is unbounded (its bytes are bounded by ``StreamBody``)."""
        return False

    def put_nowait(self, item: Any) -> None:
        """Queue ``item`` and wake the reader."""
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def put(self, item: Any) -> None:
        """``put_nowait`` (never full)."""
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        """The first item; ``asyncio.QueueEmpty`` if there is none."""
        items, head = self._items, self._head
        if head == len(items):
            raise asyncio.QueueEmpty
        item = items[head]
        head += 1
        if head == len(items):
            items.clear()
            head = 0
        elif head >= 64 and head * 2 >= len(items):  # a reader behind: drop what it took
            del items[:head]
            head = 0
        else:
            items[head - 1] = None  # not kept alive until the list is emptied
        self._head = head
        return item

    async def get(self) -> Any:
        """The first item, once there is one."""
        while self._head == len(self._items):
            if self._waiter is not None:
                raise RuntimeError("ChunkQueue has one reader; another is already waiting")
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None
        return self.get_nowait()

    def task_done(self) -> None:
        """Not kept (nothing joins a stream's queue)."""
        raise NotImplementedError

    async def join(self) -> None:
        """Not kept (nothing joins a stream's queue)."""
        raise NotImplementedError


class StreamBody:
    """Where a handle's callbacks put a stream's header lines and body, and the stream's pace.

    The chunks go to ``queue`` once per turn of the event loop, joined: libcurl calls the write
    callback for every HTTP chunk, and DeepSeek (like the simulator) sends each event as one; a
    reply streamed as fast as the network allows made 12,500 queue items, each one a trip through
    the reader, where one per read of the socket does.

    Backpressure: once ``bound`` bytes are queued that the reader has not taken (a client that
    reads slower than DeepSeek sends, or not at all), the write callback pauses the transfer and
    libcurl keeps the chunk and stops reading the socket, so DeepSeek's bytes wait in the network,
    not in this process. ``taken`` resumes it once the reader has brought the queue below the bound.

    First tokens first (``upstream.first_tokens``): until ``calm`` (the answer's first token is out,
    or the stream is done), bytes that come mark the stream ready in the loop's register, and
    ``let_go`` unmarks it once its reader has taken all and waits again.

    Held (``hold``): a fast stream's reader, having just taken a chunk, has the transfer stop
    reading the socket until a moment later; the bytes that come meanwhile wait in the network and
    are read in one go when it goes on. DeepSeek (like the simulator) writes each event on its
    own, so a reply sent as fast as the network allows was otherwise read one or two events at a
    time: 4,700 reads of the socket for a 12,500-event reply, each a trip through libcurl and
    this process's callbacks, about half of the CPU the server spent on it.
    """

    __slots__ = (
        "headers",
        "chunks",
        "queue",
        "first",
        "queued",
        "bound",
        "paused",
        "handle",
        "_loop",
        "_work",
        "_urgent",
        "_marked",
        "held",
    )

    def __init__(self, bound: int) -> None:
        self.headers: list[bytes] = []
        self.chunks: list[bytes] = []  # what is not queued yet
        self.queue: asyncio.Queue[Any] = ChunkQueue()
        self._loop = asyncio.get_running_loop()
        self.first: asyncio.Future[None] = self._loop.create_future()
        self.queued = 0  # bytes received and not taken by the reader
        self.bound = bound
        self.paused = False
        self.handle: Handle | None = None  # the handle while this transfer is set on it
        self._work = first_token_work(self._loop)
        self._urgent = True  # no first token out yet
        self._marked = False  # marked ready in the register
        self.held = False  # not reading the socket until ``_unhold`` (``hold``)

    def body(self, chunk: bytes) -> int:
        if self.queued >= self.bound:
            self.paused = True
            return CURL_WRITEFUNC_PAUSE  # given again once resumed (``taken``)
        if self._urgent and not self._marked:
            self._marked = True
            self._work.ready(self)
        if not self.chunks:
            self._loop.call_soon(self.flush)  # after libcurl's other callbacks of this read
            first = self.first
            if not first.done():
                # The reader waits for the first bytes: woken now, it runs right after that flush,
                # in the next turn of the loop; woken by the flush, it would run one turn later.
                first.set_result(None)
        self.chunks.append(chunk)
        self.queued += len(chunk)
        return len(chunk)

    def flush(self) -> None:
        """Queue the chunks that came since the last flush, joined."""
        chunks, self.chunks = self.chunks, []
        if chunks:
            self.queue.put_nowait(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            if not self.first.done():
                self.first.set_result(None)

    def let_go(self) -> None:
        """The reader took all that came and waits again: nothing of this stream is ready to run."""
        if self._marked and not self.chunks and self.queue.empty():
            self._marked = False
            self._work.done(self)

    def calm(self) -> None:
        """The answer's first token is out, or the stream is done: its bytes go first no more."""
        self._urgent = False
        if self._marked:
            self._marked = False
            self._work.done(self)

    def taken(self, size: int) -> None:
        """The reader took ``size`` bytes from the queue: resume a paused transfer below the bound."""
        self.queued -= size
        if self.paused and self.queued < self.bound:
            self.paused = False
            if not self.held:  # held: ``_unhold`` goes on
                self._go_on()

    def hold(self, until: float) -> None:
        """Read nothing more from the socket until the loop's time ``until`` (then go on at once).

        Only while the transfer runs and is not paused already (a paused one goes on once its
        reader caught up, and not before ``until`` if it was held too).
        """
        handle = self.handle
        if self.held or self.paused or handle is None or handle.sink is not self:
            return
        self.held = True
        lib.curl_easy_pause(handle.curl._curl, CURLPAUSE_RECV)
        self._loop.call_at(until, self._unhold)

    def _unhold(self) -> None:
        self.held = False
        if not self.paused:
            self._go_on()

    def _go_on(self) -> None:
        handle = self.handle
        # Only while the transfer runs: once it ended, its handle may carry another request.
        if handle is not None and handle.sink is self:
            # libcurl may hand over the chunk it kept before this returns (``body``), and it
            # sets its timer to go on reading the socket on the next turn of the loop.
            lib.curl_easy_pause(handle.curl._curl, CURLPAUSE_CONT)
