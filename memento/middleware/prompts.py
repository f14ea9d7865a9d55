"""What `MementoMiddleware` adds to the model's system message: cases in the planner's form.

The planner of the M-MDP graph sees positive cases to follow and negative ones to avoid, each
as a `<case>` block (memento.graphs.prompts.CASE_BLOCK); an agent with the middleware sees the
same blocks under the same headings.
"""

from __future__ import annotations

MEMORY_SECTION = """<memory>
Past cases from memory, for tasks like this one:
- Positive Examples: plans that succeeded on similar tasks. Follow their structure when it fits.
- Negative Examples: plans that failed. Avoid their patterns.

<positive_cases>
{positive_cases}
</positive_cases>

<negative_cases>
{negative_cases}
</negative_cases>
</memory>"""

TOOL_STEP = "Call {name}({args})"
"""A plan step for one tool call; the model's text next to the call is added as its purpose."""

ANSWER_STEP = "Answer: {answer}"
"""The last plan step: the agent's final answer."""
