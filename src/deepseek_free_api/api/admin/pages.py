"""The admin pages as HTML, rendered on the server; every value is escaped."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from deepseek_free_api.account_actions import login_of, proxy_of
from deepseek_free_api.accounts import AccountStatus
from deepseek_free_api.canary import last_run
from deepseek_free_api.stores import AccountRecord, ServiceKey, UsageTotals

_NAV = (("/admin", "Accounts"), ("/admin/keys", "Keys"), ("/admin/playground", "Playground"))


def _when(epoch: float | None) -> str:
    return "-" if epoch is None else time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def layout(title: str, body: str, *, csrf: str | None = None, current: str = "") -> str:
    """A whole page: head with the local stylesheet and script, navigation when logged in."""
    nav = ""
    if csrf is not None:
        links = "".join(
            f'<a href="{href}"{" aria-current=page" if href == current else ""}>{label}</a>'
            for href, label in _NAV
        )
        nav = (
            f"<nav>{links}<form method=post action=/admin/logout>"
            f'<input type=hidden name=csrf value="{escape(csrf)}"><button>Log out</button></form></nav>'
        )
    meta = f'<meta name="admin-csrf" content="{escape(csrf)}">' if csrf is not None else ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"{meta}<title>{escape(title)} · deepseek-free-api admin</title>"
        '<link rel=stylesheet href="/admin/static/admin.css">'
        '<script defer src="/admin/static/admin.js"></script>'
        f"</head><body><header><h1>deepseek-free-api admin</h1>{nav}</header>"
        f"<main>{body}</main></body></html>"
    )


def login(error: str | None = None) -> str:
    """The login form."""
    note = f'<p class="error" role=alert>{escape(error)}</p>' if error else ""
    return layout(
        "Log in",
        f"<h2>Log in</h2>{note}<form method=post action=/admin/login class=card>"
        "<label>Admin key <input type=password name=key autocomplete=current-password required></label>"
        "<button>Log in</button></form>"
        "<p class=muted>The admin key is one of <code>auth.admin_keys</code>. The session cookie holds a "
        "signature, never the key.</p>",
    )


def accounts(
    statuses: Sequence[AccountStatus],
    records: Mapping[str, AccountRecord],
    *,
    waiting: int,
    ready: bool,
    reasons: Iterable[str],
    csrf: str,
) -> str:
    """Every account's state as the pool reports it, its last canary run, actions, and an add form."""
    banner = (
        '<p class="status ok">Ready: an account can serve now.</p>'
        if ready
        else '<p class="status bad">Not ready.</p><ul>'
        + "".join(f"<li>{escape(r)}</li>" for r in reasons)
        + "</ul>"
    )
    cards = "".join(_account(s, records.get(s.id)) for s in statuses) or "<p>No accounts in the pool.</p>"
    return layout(
        "Accounts",
        f"<h2>Accounts</h2>{banner}<p>Requests waiting for an account: <b id=queue>{waiting}</b></p>"
        "<p><button id=canary-all type=button>Run the canary on every account</button> "
        '<a href="/admin" class="button">Reload</a></p>'
        '<p id=account-action class="card hidden" role=status></p>'
        f'<div class="cards">{cards}</div>{_ADD_FORM}',
        csrf=csrf,
        current="/admin",
    )


_ADD_FORM = (
    '<form id=add-account class="card"><h3>Add an account</h3>'
    "<p class=muted>A token, or an e-mail or mobile number with its password. It is kept in the store "
    "and served by every server sharing it within seconds; the page never shows it again.</p>"
    "<label>Name (optional) <input name=name pattern='[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}'></label>"
    "<label>Token <input name=token type=password autocomplete=off></label>"
    "<label>E-mail <input name=email type=email autocomplete=off></label>"
    "<label>Mobile <input name=mobile autocomplete=off></label>"
    "<label>Area code (with a mobile) <input name=area_code autocomplete=off></label>"
    "<label>Password <input name=password type=password autocomplete=new-password></label>"
    "<label>Proxy (optional) <input name=proxy type=password autocomplete=off "
    "placeholder='socks5://user:pass@host:1080'></label>"
    "<label>Locale (optional) <input name=locale placeholder='en-US' maxlength=35></label>"
    "<label>Timezone offset, seconds east of UTC (optional) <input name=timezone_offset "
    "placeholder='28800 or auto' maxlength=8></label>"
    "<button>Add</button></form>"
)
_ACTIONS = (("check", "Re-check"), ("enable", "Re-enable"), ("canary", "Canary"), ("remove", "Remove"))


def _account(s: AccountStatus, record: AccountRecord | None) -> str:
    rows = [
        ("Source", s.source),
        ("Until", _when(s.until)),
        ("Reason", s.reason or s.last_error or "-"),
        ("In flight", str(s.in_flight)),
        ("Leases / ok / errors", f"{s.leases} / {s.successes} / {s.errors}"),
        ("Leased since", _when(s.leased_at)),
    ]
    if record is not None:
        rows[:0] = [("Login", login_of(record)), ("Origin", record.origin), ("Proxy", proxy_of(record.proxy))]
        rows.append(("Condition", record.condition))
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    state = s.state.value
    name = escape(s.id)
    buttons = (
        ""
        if s.source != "server"
        else "".join(
            f'<button type=button class="account-action {action}" data-action={action} data-account="{name}">'
            f"{label}</button> "
            for action, label in _ACTIONS
            # A configured account comes back from the configuration: it is removed there.
            if action != "remove" or (record is not None and record.origin == "added")
        )
    )
    return (
        f'<article class="card account" data-account="{name}" data-state="{escape(state)}">'
        f'<h3>{name} <span class="badge {escape(state)}">{escape(state)}</span></h3>'
        f"<dl>{body}</dl>{_canary(None if record is None else last_run(record.canary))}"
        f'<p class="actions">{buttons}</p></article>'
    )


def _canary(run: Mapping[str, Any] | None) -> str:
    if run is None:
        return '<p class="canary muted" data-verdict="">Canary: not run yet</p>'
    verdict = str(run.get("verdict", ""))
    at = run.get("at")
    when = _when(float(at)) if isinstance(at, int | float) else "-"
    failed = [c for c in run.get("checks", []) if isinstance(c, Mapping) and c.get("result") != "ok"]
    details = "".join(_check(check) for check in failed)
    more = f"<details><summary>Evidence</summary>{details}</details>" if details else ""
    badge = "ok" if verdict == "ok" else "bad"
    return (
        f'<div class="canary" data-verdict="{escape(verdict)}"><p>Canary: '
        f'<span class="badge canary-{badge}">{escape(verdict)}</span> <span class=muted>{when}</span></p>'
        f"{more}</div>"
    )


def _check(check: Mapping[str, Any]) -> str:
    text = f"{check.get('check')}: {check.get('result')} — {check.get('detail', '')}"
    evidence = check.get("evidence")
    if isinstance(evidence, Mapping):
        headers = "\n".join(f"{name}: {value}" for name, value in evidence.get("headers", []))
        text += f"\nHTTP {evidence.get('status')}\n{headers}\n\n{evidence.get('first_bytes', '')}"
    return f"<pre>{escape(text)}</pre>"


def keys(records: Sequence[tuple[ServiceKey, UsageTotals]], *, store: str, csrf: str) -> str:
    """The store's service keys with limits and today's usage, a create form and revoke buttons."""
    now = time.time()
    cards = "".join(_key(record, usage, now) for record, usage in records) or "<p>No keys yet.</p>"
    form = (
        '<form id=create-key class="card">'
        "<h3>Create a key</h3>"
        "<label>Name <input name=name required pattern='[A-Za-z0-9][A-Za-z0-9._-]{0,63}'></label>"
        "<label>Requests per minute <input name=rpm type=number min=1></label>"
        "<label>Concurrency <input name=concurrency type=number min=1></label>"
        "<label>Tokens per day <input name=tokens_per_day type=number min=1></label>"
        "<label>Models (comma-separated patterns) <input name=models></label>"
        "<label>Expires after days <input name=expires_days type=number min=0.01 step=any></label>"
        "<button>Create</button></form>"
        '<div id=new-key class="card hidden" role=status><p>The new key, shown only this once:</p>'
        "<code id=new-key-value></code></div>"
    )
    return layout(
        "Keys",
        f"<h2>Service keys</h2><p class=muted>Store: {escape(store)}</p>{form}"
        f'<div class="cards">{cards}</div>',
        csrf=csrf,
        current="/admin/keys",
    )


def _key(record: ServiceKey, usage: UsageTotals, now: float) -> str:
    limits = record.limits
    rows = [
        ("Key", f"sk-{record.prefix}…"),
        ("RPM", str(limits.rpm or "-")),
        ("Concurrency", str(limits.concurrency or "-")),
        ("Tokens/day", str(limits.tokens_per_day or "-")),
        ("Models", ", ".join(limits.models) or "any"),
        ("Expires", _when(limits.expires_at)),
        ("Requests today", str(usage.requests)),
        ("Tokens today", str(usage.tokens)),
        ("Last used", _when(usage.last_used_at)),
    ]
    state = record.state(now)
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    revoke = (
        f'<button class="revoke" data-name="{escape(record.name)}">Revoke</button>'
        if state == "active"
        else ""
    )
    return (
        f'<article class="card key" data-key="{escape(record.name)}" data-state="{state}">'
        f'<h3>{escape(record.name)} <span class="badge {state}">{state}</span></h3>'
        f"<dl>{body}</dl>{revoke}</article>"
    )


def playground(models: Sequence[str], *, csrf: str) -> str:
    """A chat request through the server's own ``/v1/chat/completions``, with a service key."""
    options = "".join(f"<option>{escape(m)}</option>" for m in models)
    return layout(
        "Playground",
        "<h2>Playground</h2><form id=playground class=card>"
        "<label>Service key <input name=key type=password autocomplete=off></label>"
        f"<label>Model <select name=model>{options}</select></label>"
        "<label>Message <textarea name=message rows=4 required>Hello!</textarea></label>"
        "<button>Send</button></form>"
        '<div class="card"><p>Status: <b id=play-status>-</b></p><pre id=play-output></pre></div>',
        csrf=csrf,
        current="/admin/playground",
    )
