"""A faithful DeepSeek web server (chat.deepseek.com ``/api/v0``) for tests, benchmarks and the demo.

``create_app(SimulatorConfig.demo())`` gives an ASGI app; run it with
``BackgroundServer(create_app(cfg))`` or ``deepseek-free-api simulate``.
"""

from __future__ import annotations

from .app import create_app
from .config import (
    AccountConfig,
    FaultSpec,
    ModelConfig,
    Pacing,
    ScriptedReply,
    SearchHit,
    SimulatorConfig,
    VersionRule,
)

__all__ = [
    "AccountConfig",
    "FaultSpec",
    "ModelConfig",
    "Pacing",
    "ScriptedReply",
    "SearchHit",
    "SimulatorConfig",
    "VersionRule",
    "create_app",
]
