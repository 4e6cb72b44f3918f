"""deepseek-free-api: the DeepSeek web chat as OpenAI- and Anthropic-compatible APIs."""

__version__ = "0.1.0"
