"""The admin page in a real headless Chromium (Debian's ``chromium`` driven by Playwright), against
``serve`` in its own process in front of the simulator with two accounts and a SQLite store.

Screenshots of each page go to the test's tmp directory (printed), and with
``UPDATE_SCREENSHOTS=1`` to ``docs/screenshots/``, to be looked at whenever the page changes (a
plain test run leaves the checkout untouched).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deepseek_free_api.background import BackgroundServer, free_port
from deepseek_free_api.simulator import create_app as create_simulator
from tests.api.conftest import TOKENS, simulator_config
from tests.support.processes import CLI, REPO, Running, clean_env, running

CHROMIUM = Path("/usr/bin/chromium")
ADMIN_KEY = "admin-key-for-the-browser-test"
CONFIG_KEY = "sk-configured-key-for-the-admin-test"
HEALTHY = {"free", "busy", "pacing"}
GAMMA_TOKEN = "tok-gamma-for-the-admin-page-0123"
SHOTS = REPO / "docs" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _browser_or_skip() -> Any:
    """Playwright's sync API, or a skip (a failure under CI=true) naming what is missing."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing.append("the playwright package (pip install -e '.[dev]')")
    if missing:
        reason = "the admin page test needs " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return sync_playwright


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, BackgroundServer]]:
    # gamma is not configured: the test adds it from the page.
    sim_accounts = [{"id": "alpha", "token": TOKENS[0]}, {"id": "beta", "token": TOKENS[1]}]
    sim_accounts.append({"id": "gamma", "token": GAMMA_TOKEN})
    with BackgroundServer(create_simulator(simulator_config(accounts=sim_accounts))) as simulator:
        env = clean_env(
            DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(tmp_path_factory.mktemp("data")),  # SQLite store
            DEEPSEEK_FREE_API_UPSTREAM_BASE_URL=simulator.url,
            DEEP_SEEK_CHAT_AUTHORIZATION=",".join(TOKENS),
            API_KEYS=CONFIG_KEY,
            DEEPSEEK_FREE_API_AUTH_ADMIN_KEYS=ADMIN_KEY,
            DEEPSEEK_FREE_API_POOL_MIN_INTERVAL_S="0",
        )
        port = free_port()
        log = tmp_path_factory.mktemp("log") / "serve.log"
        with running([*CLI, "serve", "--port", str(port)], port, env=env, log_file=log) as served:
            yield served, simulator


def _states(page: Any) -> list[str]:
    page.goto(page.url.split("/admin")[0] + "/admin")
    return [card.get_attribute("data-state") for card in page.locator("article.account").all()]


def _account_action(page: Any, url: str, account: str, action: str) -> str:
    """Click an account's action button; the sentence the page shows after it reloads."""
    page.goto(url + "/admin")  # a fresh page: no sentence from an earlier action
    page.click(f"article[data-account='{account}'] button[data-action={action}]")
    page.wait_for_selector("#account-action[data-done]")
    return str(page.text_content("#account-action"))


def _state_of(page: Any, account: str) -> str:
    return str(page.get_attribute(f"article[data-account='{account}']", "data-state"))


def _no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def _play(page: Any, url: str, key: str) -> str:
    page.goto(url + "/admin/playground")
    page.fill("input[name=key]", key)
    page.fill("textarea[name=message]", "Say hello")
    page.click("#playground button")
    # The page's CSP forbids eval, so the test waits for the mark the script sets, not a JS predicate.
    page.wait_for_selector("#play-status[data-done]")
    return str(page.text_content("#play-status"))


def test_admin_page_in_chromium(server: tuple[Running, BackgroundServer], tmp_path: Path) -> None:
    sync_playwright = _browser_or_skip()
    served, simulator = server
    url = served.url
    shots = tmp_path / "screenshots"
    shots.mkdir()

    def shoot(page: Any, name: str) -> None:
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 800})
            page.on("dialog", lambda dialog: dialog.accept())  # the revoke button asks first

            # Not logged in: sent to the form; a wrong admin key is refused, as is a service key.
            page.goto(url + "/admin")
            assert page.url.endswith("/admin/login")
            shoot(page, "admin-login")
            for wrong in ("not-the-admin-key", CONFIG_KEY):
                page.fill("input[name=key]", wrong)
                with page.expect_response(url + "/admin/login") as answer:
                    page.click("form button")
                assert answer.value.status == 401
                assert "not an admin key" in page.text_content("main")
            assert page.context.cookies() == []
            assert (
                httpx.get(url + "/admin/api/accounts", headers={"Authorization": "Bearer nope"}).status_code
                == 401
            )

            page.fill("input[name=key]", ADMIN_KEY)
            page.click("form button")
            page.wait_for_url(url + "/admin")
            (cookie,) = page.context.cookies()
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
            assert ADMIN_KEY not in cookie["value"]
            # The cookie alone cannot change anything (no CSRF token); a script's admin bearer can.
            api = url + "/admin/api/keys"
            jar = {cookie["name"]: cookie["value"]}
            assert httpx.post(api, cookies=jar, json={"name": "csrf"}).status_code == 401
            for action in ("remove", "enable", "check", "canary"):
                answer = httpx.post(f"{url}/admin/api/accounts/x/{action}", cookies=jar)
                assert answer.status_code == 401, action
            added = httpx.post(url + "/admin/api/accounts", cookies=jar, json={"token": "t"})
            assert added.status_code == 401
            bearer = {"Authorization": f"Bearer {ADMIN_KEY}"}
            assert httpx.post(api, headers=bearer, json={"name": "script"}).status_code == 201
            assert httpx.post(api + "/script/revoke", headers=bearer).status_code == 200
            service = {"Authorization": f"Bearer {CONFIG_KEY}"}
            assert httpx.post(api, headers=service, json={"name": "svc"}).status_code == 401

            # Two healthy accounts; then alpha is muted upstream and the chat that meets it shows it.
            states = _states(page)
            assert len(states) == 2 and set(states) <= HEALTHY, states
            shoot(page, "admin-accounts")
            simulator_mute = httpx.post(simulator.url + "/_sim/accounts/alpha", json={"mute_seconds": 600})
            assert simulator_mute.status_code == 200
            for _ in range(4):  # the pool picks accounts in its own order; failover serves each chat
                chat = httpx.post(
                    url + "/v1/chat/completions",
                    headers={"Authorization": f"Bearer {CONFIG_KEY}"},
                    json={"model": "deepseek-chat", "messages": [{"role": "user", "content": "hi"}]},
                    timeout=60,
                )
                assert chat.status_code == 200, chat.text
                if "muted" in _states(page):
                    break
            states = _states(page)
            assert states.count("muted") == 1 and set(states) - {"muted"} <= HEALTHY, states
            muted = page.text_content("article[data-state=muted]") or ""
            assert "MutedError" in muted and "UTC" in muted  # why, and until when
            shoot(page, "admin-accounts-muted")

            # An account added in the page is served at once; its token is never shown again.
            page.goto(url + "/admin")
            page.fill("#add-account input[name=name]", "gamma")
            page.fill("#add-account input[name=token]", GAMMA_TOKEN)
            page.click("#add-account button")
            page.wait_for_selector("#account-action[data-done]")
            assert "gamma added" in (page.text_content("#account-action") or "")
            assert _state_of(page, "gamma") in HEALTHY
            assert GAMMA_TOKEN not in page.content()
            assert "token …0123" in (page.text_content("article[data-account=gamma]") or "")
            # Only an added account can be removed here; a configured one comes back from its file.
            assert page.locator("button[data-action=remove]").count() == 1
            # Revoked upstream, a re-check parks it; back upstream, re-enabled, it serves again.
            httpx.post(simulator.url + "/_sim/accounts/gamma", json={"revoked": True}).raise_for_status()
            assert "refused" in _account_action(page, url, "gamma", "check")
            assert _state_of(page, "gamma") == "invalid"
            shoot(page, "admin-accounts-rechecked")
            httpx.post(simulator.url + "/_sim/accounts/gamma", json={"revoked": False}).raise_for_status()
            assert "re-enabled" in _account_action(page, url, "gamma", "enable")
            assert _state_of(page, "gamma") in HEALTHY
            # The canary button shows a verdict; a banned account's evidence is one click away.
            assert "gamma: ok" in _account_action(page, url, "gamma", "canary")
            assert page.get_attribute("article[data-account=gamma] .canary", "data-verdict") == "ok"
            ban = {"banned": True, "ban_signal": "code"}
            httpx.post(simulator.url + "/_sim/accounts/gamma", json=ban).raise_for_status()
            assert "gamma: banned" in _account_action(page, url, "gamma", "canary")
            page.click("article[data-account=gamma] .canary summary")
            assert "40012" in (page.text_content("article[data-account=gamma] .canary pre") or "")
            shoot(page, "admin-accounts-canary")
            httpx.post(simulator.url + "/_sim/accounts/gamma", json={"banned": False}).raise_for_status()
            assert "removed" in _account_action(page, url, "gamma", "remove")
            assert page.locator("article[data-account=gamma]").count() == 0
            assert "admin added token account gamma" in served.logged()
            assert GAMMA_TOKEN not in served.logged()

            # A key made in the page is shown once and serves a chat; revoked, it is refused.
            page.goto(url + "/admin/keys")
            page.fill("#create-key input[name=name]", "from-the-page")
            page.fill("#create-key input[name=rpm]", "30")
            page.click("#create-key button")
            page.wait_for_selector("#new-key:not(.hidden)")
            key = page.text_content("#new-key-value") or ""
            assert key.startswith("sk-"), key
            shoot(page, "admin-keys-created")
            assert _play(page, url, key) == "200"
            assert page.text_content("#play-output")
            shoot(page, "admin-playground")
            page.goto(url + "/admin/keys")
            card = page.locator("article[data-key=from-the-page]")
            assert card.get_attribute("data-state") == "active"
            assert "Requests today" in (card.text_content() or "")
            card.locator("button.revoke").click()
            page.wait_for_selector("article[data-key=from-the-page][data-state=revoked]")
            shoot(page, "admin-keys-revoked")
            assert _play(page, url, key) == "401"

            # At 375 px (an iPhone's width) no page scrolls sideways.
            phone = browser.new_page(viewport={"width": 375, "height": 740})
            phone.context.add_cookies([cookie])
            for path, name in (
                ("/admin", "accounts"),
                ("/admin/keys", "keys"),
                ("/admin/playground", "playground"),
            ):
                phone.goto(url + path)
                assert phone.url == url + path
                assert _no_horizontal_scroll(phone), path
                phone.screenshot(path=str(shots / f"admin-{name}-375px.png"), full_page=True)

            # Logging out ends the session: the same cookie no longer opens the page.
            page.goto(url + "/admin")
            page.click("nav form button")
            page.wait_for_url(url + "/admin/login")
            phone.goto(url + "/admin")
            assert phone.url.endswith("/admin/login")
        finally:
            browser.close()

    print(f"screenshots: {shots}")
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, SHOTS / shot.name)


def test_admin_page_is_off_without_admin_keys(tmp_path: Path) -> None:
    port = free_port()
    env = clean_env(DEEPSEEK_FREE_API_SERVER_DATA_DIR=str(tmp_path), API_KEYS=CONFIG_KEY)
    with running([*CLI, "serve", "--port", str(port)], port, env=env, log_file=tmp_path / "log") as served:
        assert httpx.get(served.url + "/admin").status_code == 404
        assert httpx.get(served.url + "/admin/login").status_code == 404
        assert "DEEPSEEK_FREE_API_AUTH_ADMIN_KEYS" in served.logged()
