"""OpenAI's gpt-* names on /v1/responses are answered by chat.gpt_model (Codex's -m gpt-5.5)."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from deepseek_free_api.app import create_app
from deepseek_free_api.config import load_settings
from deepseek_free_api.settings import ConfigError
from tests.api.conftest import API_KEY, Stack, simulator_config, start_stack


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    yield from start_stack(simulator_config(), min_interval_s=0.0, gpt_model="deepseek-v4-pro")


def test_a_gpt_name_is_answered_by_the_configured_model_and_keeps_its_name(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.base_url, api_key=API_KEY, max_retries=0)
    reply = client.responses.create(model="gpt-5.5", input="hi there")
    assert reply.model == "gpt-5.5"
    assert "model=expert" in reply.output_text  # deepseek-v4-pro is DeepSeek's expert model type


def test_other_unknown_names_are_still_a_404(stack: Stack) -> None:
    client = openai.OpenAI(base_url=stack.base_url, api_key=API_KEY, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="my-model", input="hi")


def test_a_gpt_model_that_is_no_model_name_fails_at_startup() -> None:
    settings = load_settings(overrides={"gpt_model": "gpt-5.5"}, env={})
    with pytest.raises(ConfigError, match="chat.gpt_model"):
        create_app(settings)
