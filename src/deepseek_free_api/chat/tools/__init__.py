"""Tool calling emulated in text: one core shared by every dialect.

* ``tool_instructions`` offers the declared tools to the model (in DSML, the format it was trained on);
* ``ToolCallParser`` is the pipeline stage that reads calls back out of the streamed answer, in any of
  DeepSeek's markups, and emits ``ToolCall`` events;
* ``render_tool_calls`` / ``render_tool_result`` write earlier calls and results into the prompt
  (hooks of ``chat.prompt.fold_messages``).
"""

from deepseek_free_api.chat.tools.calls import Rejected
from deepseek_free_api.chat.tools.history import render_tool_calls, render_tool_result
from deepseek_free_api.chat.tools.instructions import tool_instructions
from deepseek_free_api.chat.tools.parser import ToolCallParser, new_call_id

__all__ = [
    "Rejected",
    "ToolCallParser",
    "new_call_id",
    "render_tool_calls",
    "render_tool_result",
    "tool_instructions",
]
