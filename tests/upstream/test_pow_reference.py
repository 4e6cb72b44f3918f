from __future__ import annotations

import hashlib
from typing import Any

import pytest

from deepseek_free_api.upstream.pow.reference import deepseek_hash_v1, sha3_256_variant


def test_all_rounds_is_standard_sha3() -> None:
    for data in (b"", b"abc", b"a" * 135, b"a" * 136, b"z" * 400):
        assert sha3_256_variant(data, first_round=0) == hashlib.sha3_256(data).digest()


@pytest.mark.parametrize("index", range(6))
def test_hash_vectors(pow_vectors: dict[str, Any], index: int) -> None:
    vector = pow_vectors["hashes"][index]
    assert deepseek_hash_v1(vector["input"].encode()).hex() == vector["hash"]
