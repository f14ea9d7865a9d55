r"""One JSON Lines row, parsed strictly: every way a line can be unreadable is a JSONDecodeError.

`json.loads` has three failures besides `JSONDecodeError`: `RecursionError` for deeply nested
arrays, `ValueError` for an integer longer than Python's digit limit, and lone UTF-16 surrogate
escapes (`"\ud800"`) that it accepts but that cannot be written back as UTF-8 (I-JSON, RFC 7493,
forbids them). The file readers catch `JSONDecodeError` and name the file and line, so all four
arrive there as one type.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def loads_line(text: str) -> Any:
    """Parse one line of JSON text.

    Raises:
        json.JSONDecodeError: for bad syntax, nesting too deep for the parser, a number too long
            to convert, or a string holding a lone surrogate.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:
        raise json.JSONDecodeError("nested too deeply", text, 0) from None
    except ValueError:  # an integer over sys.get_int_max_str_digits() digits
        problem = f"a number has more than {sys.get_int_max_str_digits()} digits"
        raise json.JSONDecodeError(problem, text, 0) from None
    if "\\u" in text:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            problem = f"lone surrogate {exc.object[exc.start : exc.end]!r} is not valid Unicode"
            raise json.JSONDecodeError(problem, text, max(text.find("\\u"), 0)) from None
    return value
