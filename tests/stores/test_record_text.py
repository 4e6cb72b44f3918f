"""Account records and service keys keep every field, in every backend, in the text older versions wrote."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, fields, replace

import orjson

from deepseek_free_api.stores import AccountRecord, KeyLimits, ServiceKey
from deepseek_free_api.stores.codec import dump, load_account, load_key

from .conftest import Backend

# A value for every field, none of them the default (a field the text dropped would come back as it).
FULL = AccountRecord(
    "acc-full",
    token="t-full",
    token_updated_at=1.5,
    needs_login=True,
    invalid_reason="banned",
    invalid_until=2.5,
    mute_until=3.5,
    cooldown_until=4.5,
    last_used_at=5.5,
    successes=6,
    errors=7,
    last_error="RateLimitError",
    last_error_at=8.5,
    condition="muted",
    condition_reason="said so",
    condition_at=9.5,
    condition_until=10.5,
    throttle_streak=11,
    updated_at=12.5,
    email="a@example.com",
    mobile="555",
    area_code="+1",
    password="pw",
    proxy="socks5://h:1",
    locale="en-US",
    timezone_offset="auto",
    origin="added",
    checked_at=13.5,
    canary='{"verdict": "ok"}',
)


def test_every_field_of_a_record_is_set_in_the_sample() -> None:
    defaults = AccountRecord("acc-full")
    same = [f.name for f in fields(AccountRecord) if getattr(FULL, f.name) == getattr(defaults, f.name)]
    assert same == ["id"]


def test_the_text_is_what_earlier_versions_wrote_and_read() -> None:
    # Stores written before keep this text (dataclasses.asdict through orjson); both ways must agree.
    assert dump(FULL) == orjson.dumps(asdict(FULL))
    assert load_account(orjson.dumps(asdict(FULL))) == FULL
    limits = KeyLimits(rpm=1, concurrency=2, tokens_per_day=3, models=("deepseek-v4-*", "x"), expires_at=4.0)
    key = ServiceKey("ci", "digest", "abcd", limits, 5.0, revoked_at=6.0)
    assert dump(key) == orjson.dumps(asdict(key))
    assert load_key(dump(key)) == key


def test_fields_a_newer_version_added_are_skipped() -> None:
    newer = {**orjson.loads(dump(FULL)), "from_the_future": 1}
    assert load_account(orjson.dumps(newer)) == FULL
    key = {
        "name": "ci",
        "digest": "d",
        "prefix": "abcd",
        "created_at": 1.0,
        "later": True,
        "limits": {"rpm": 5, "models": ["m"], "burst": 9},
    }
    loaded = load_key(orjson.dumps(key))
    assert (loaded.name, loaded.limits.rpm, loaded.limits.models) == ("ci", 5, ("m",))


def test_a_record_with_every_field_round_trips_in_every_backend(backend: Backend) -> None:
    async def main() -> None:
        async with await backend.open() as stores:
            await stores.accounts.put(FULL)
            got = await stores.accounts.get(FULL.id)
            assert got is not None and replace(got, updated_at=FULL.updated_at) == FULL
            lease = await stores.leases.acquire([FULL.id], "owner", 30.0)
            assert lease is not None
            changed = replace(FULL, successes=99, last_error=None)
            assert await stores.accounts.report(lease, changed)
            (after,) = await stores.accounts.all()
            assert replace(after, updated_at=FULL.updated_at) == changed

    asyncio.run(main())
