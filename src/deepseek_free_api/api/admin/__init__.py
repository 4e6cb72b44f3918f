"""The admin page at ``/admin``: accounts, service keys and a playground, behind ``auth.admin_keys``."""

from __future__ import annotations

from deepseek_free_api.api.admin.routes import router_for

__all__ = ["router_for"]
