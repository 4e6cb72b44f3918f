"""The admin pages as HTML, rendered on the server; every value is escaped."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from html import escape

from deepseek_free_api.accounts import AccountStatus
from deepseek_free_api.stores import ServiceKey, UsageTotals

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
    statuses: Sequence[AccountStatus], *, waiting: int, ready: bool, reasons: Iterable[str], csrf: str
) -> str:
    """Every account's state, as the pool reports it, and whether the server is ready."""
    banner = (
        '<p class="status ok">Ready: an account can serve now.</p>'
        if ready
        else '<p class="status bad">Not ready.</p><ul>'
        + "".join(f"<li>{escape(r)}</li>" for r in reasons)
        + "</ul>"
    )
    cards = "".join(_account(s) for s in statuses) or "<p>No accounts in the pool.</p>"
    return layout(
        "Accounts",
        f"<h2>Accounts</h2>{banner}<p>Requests waiting for an account: <b id=queue>{waiting}</b></p>"
        f'<div class="cards">{cards}</div><p><a href="/admin" class="button">Reload</a></p>',
        csrf=csrf,
        current="/admin",
    )


def _account(s: AccountStatus) -> str:
    rows = [
        ("Source", s.source),
        ("Until", _when(s.until)),
        ("Reason", s.reason or s.last_error or "-"),
        ("In flight", str(s.in_flight)),
        ("Leases / ok / errors", f"{s.leases} / {s.successes} / {s.errors}"),
        ("Leased since", _when(s.leased_at)),
    ]
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    state = s.state.value
    return (
        f'<article class="card account" data-account="{escape(s.id)}" data-state="{escape(state)}">'
        f'<h3>{escape(s.id)} <span class="badge {escape(state)}">{escape(state)}</span></h3>'
        f"<dl>{body}</dl></article>"
    )


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
