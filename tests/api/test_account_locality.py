"""Each account speaks with its own locale and time zone, and its own device id, on every call.

`serve` (its own process, its host in a time zone of +05:30) in front of the simulator, with three
accounts: a token account set to en-US at UTC+8, a login account set to de_DE at UTC-5, and a token
account with neither, which keeps the server's persona (zh_CN and the host's offset). The
simulator's request log shows every call of each account, from its login and start-up
preparation to completions, uploads and the scheduled canary, with that account's values, and
the headers of each call agreeing with each other.
"""

from __future__ import annotations

import base64
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import SimulatorConfig
from deepseek_free_api.simulator import create_app as create_simulator
from tests.support.processes import CLI, REPO, clean_env, running

API_KEY = "sk-locality-test"
PASSWORD = "west-pass-word-1"
HOST_TZ = "IST-5:30"  # POSIX TZ: UTC+05:30 without tzdata, an offset no test machine has by chance
HOST_OFFSET = "19800"
SIM_ACCOUNTS: list[dict[str, Any]] = [
    {"id": "east", "token": "tok-east"},
    {"id": "west", "email": "west@example.com", "password": PASSWORD},
    {"id": "plain", "token": "tok-plain"},
]
# account -> (X-Client-Locale, first Accept-Language tag, X-Client-Timezone-Offset)
EXPECTED = {
    "east": ("en_US", "en-US", "28800"),
    "west": ("de_DE", "de-DE", "-18000"),
    "plain": ("zh_CN", "zh-CN", HOST_OFFSET),
}
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
CONFIG = f"""
[auth]
api_keys = ["{API_KEY}"]
[pool]
min_interval_s = 0
[upstream]
base_url = "BASE"
canary_interval_s = 3
[[accounts]]
name = "east"
token = "tok-east"
locale = "en-US"
timezone_offset = 28800
[[accounts]]
name = "west"
email = "west@example.com"
password = "{PASSWORD}"
locale = "de_DE"
timezone_offset = "-18000"
[[accounts]]
name = "plain"
token = "tok-plain"
"""


def _chat(url: str, content: Any, model: str = "deepseek-v4-flash") -> None:
    body = {"model": model, "messages": [{"role": "user", "content": content}]}
    answer = httpx.post(
        url + "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60
    )
    assert answer.status_code == 200, answer.text


def _owner(call: dict[str, Any]) -> str | None:
    body = call.get("body")
    if call["path"].endswith("/users/login") and isinstance(body, dict):
        return "west" if body.get("email") == "west@example.com" else None
    return call["account"]


def _agree(headers: dict[str, str]) -> None:
    """The headers of one call describe one browser (the locale headers included)."""
    locale, languages = headers["x-client-locale"], headers["accept-language"].split(",")
    assert languages[0] == locale.replace("_", "-"), headers
    assert all(re.fullmatch(r"[A-Za-z-]+;q=0\.\d", lang) for lang in languages[1:]), headers
    chrome = re.search(r"Chrome/(\d+)", headers["user-agent"])
    assert chrome is not None and f'"Google Chrome";v="{chrome.group(1)}"' in headers["sec-ch-ua"], headers
    assert "Windows NT" in headers["user-agent"] and headers["sec-ch-ua-platform"] == '"Windows"', headers


def test_each_account_sends_its_own_locale_time_zone_and_device_on_every_call(tmp_path: Path) -> None:
    config = {"difficulty": 64, "accounts": SIM_ACCOUNTS}
    with BackgroundServer(create_simulator(SimulatorConfig.from_dict(config))) as sim:
        path = tmp_path / "server.toml"
        path.write_text(CONFIG.replace("BASE", sim.url))
        port = free_port()
        env = clean_env(TZ=HOST_TZ)
        with running([*CLI, "serve", "--config", str(path), "--port", str(port)], port, env=env) as served:
            for _ in range(6):  # longest-idle first: each account serves two
                _chat(served.url, "Say hello.")
            image = "data:image/png;base64," + base64.b64encode(PNG).decode()
            for _ in range(3):
                parts = [
                    {"type": "text", "text": "What is it?"},
                    {"type": "image_url", "image_url": {"url": image}},
                ]
                _chat(served.url, parts, "deepseek-v4-vision")
            deadline = time.monotonic() + 30
            while True:  # the scheduled canary (every 3 s, one account at a time) reaches all three
                calls = httpx.get(sim.url + "/_sim/requests").json()["requests"]
                checked = {c["account"] for c in calls if c["path"].endswith("/client/settings")}
                if checked >= set(EXPECTED) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
    by_account: dict[str, list[dict[str, Any]]] = {}
    for call in calls:
        if (owner := _owner(call)) is not None:
            by_account.setdefault(owner, []).append(call)
    assert set(by_account) == set(EXPECTED), {c["path"] for c in calls}
    devices = {}
    for account, (locale, language, offset) in EXPECTED.items():
        paths = {call["path"].rsplit("/api/v0/", 1)[-1] for call in by_account[account]}
        needed = {"chat_session/create", "chat/create_pow_challenge", "chat/completion", "client/settings"}
        assert needed <= paths, (account, paths)
        for call in by_account[account]:
            headers = call["headers"]
            seen = (headers["x-client-locale"], headers["accept-language"].split(",")[0])
            assert (*seen, headers["x-client-timezone-offset"]) == (locale, language, offset), (account, call)
            _agree(headers)
        ids = {call["headers"].get("x-device-id") for call in by_account[account]} - {None}
        assert len(ids) == 1, (account, ids)  # one device per account, on every call
        devices[account] = ids.pop()
    assert len(set(devices.values())) == len(devices), devices  # never shared between accounts
    uploaded = {call["account"] for call in calls if call["path"].endswith("/file/upload_file")}
    assert uploaded, "no upload reached the simulator"
    [login] = [call for call in by_account["west"] if call["path"].endswith("/users/login")]
    assert login["body"]["device_id"] == devices["west"]  # the login names the device its calls use


def _serve_refuses(tmp_path: Path, account: str) -> str:
    path = tmp_path / "bad.toml"
    path.write_text(f'[[accounts]]\ntoken = "tok-a"\n{account}\n')
    argv = [*CLI, "serve", "--config", str(path), "--port", str(free_port())]
    done = subprocess.run(argv, cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode != 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def test_a_bad_locale_or_offset_is_refused_at_start_and_by_accounts_add(tmp_path: Path) -> None:
    said = _serve_refuses(tmp_path, 'locale = "en-US\\r\\nX-Injected: 1"')
    assert "accounts[0].locale" in said and "language tag" in said, said
    said = _serve_refuses(tmp_path, "timezone_offset = 90000")
    assert "accounts[0].timezone_offset" in said and "between -50400 and 50400" in said, said
    said = _serve_refuses(tmp_path, 'timezone_offset = "UTC+8"')
    assert "accounts[0].timezone_offset" in said and "seconds east of UTC" in said, said

    env = clean_env(DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(tmp_path / "data"))
    for flag, value, words in (
        ("--locale", "en US", "the locale must be a language tag"),
        ("--locale", "x" * 40, "at most 35 characters"),
        ("--timezone-offset", "eight", "the timezone offset must be seconds east of UTC"),
    ):
        argv = [*CLI, "accounts", "add", "--token", "tok-b", flag, value]
        done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and words in done.stderr, (flag, value, done.stderr)
    listed = subprocess.run(
        [*CLI, "accounts", "list"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert "acct-" not in listed.stdout, listed.stdout  # nothing was added


def test_accounts_add_keeps_the_locality_in_the_store_for_every_server(tmp_path: Path) -> None:
    env = clean_env(DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(tmp_path / "data"))
    argv = [*CLI, "accounts", "add", "--name", "far", "--token", "tok-far", "--locale", "ja-JP"]
    done = subprocess.run(
        [*argv, "--timezone-offset", "32400"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [*CLI, "accounts", "list"], cwd=REPO, env=env, capture_output=True, text=True, timeout=60
    )
    assert "ja-JP UTC+32400s" in listed.stdout, listed.stdout
    with BackgroundServer(create_simulator(SimulatorConfig.from_dict({"difficulty": 64, "accounts": [
        {"id": "far", "token": "tok-far"}
    ]}))) as sim:  # fmt: skip
        port = free_port()
        serve_env = {**env, "DEEPSEEK_BASE_URL": sim.url, "API_KEYS": API_KEY, "TZ": HOST_TZ}
        with running([*CLI, "serve", "--port", str(port)], port, env=serve_env) as served:
            _chat(served.url, "Say hello.")
        calls = httpx.get(sim.url + "/_sim/requests", params={"path": "chat/completion"}).json()["requests"]
    assert calls and all(
        (c["headers"]["x-client-locale"], c["headers"]["x-client-timezone-offset"]) == ("ja_JP", "32400")
        for c in calls
    ), calls
