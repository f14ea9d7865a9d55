"""A checkpoint serializer that masks secrets: a key pasted into a task never reaches a checkpoint.

It wraps the checkpointer's own serializer and overwrites every secret value (the process's API
keys and tokens, see `memento.infra.redact`) and key-shaped string in the serialized bytes with
as many '*' bytes. The length is kept, so msgpack and JSON framing stay valid and loading is
unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from memento.infra.redact import KEY_SHAPES, secret_values

_KEY_SHAPES_BYTES = re.compile(KEY_SHAPES.pattern.encode())


def mask_bytes(data: bytes) -> bytes:
    """`data` with each secret value and key-shaped run of bytes overwritten by as many "*"."""
    for value in secret_values():
        raw = value.encode()
        if raw in data:
            data = data.replace(raw, b"*" * len(raw))
    return _KEY_SHAPES_BYTES.sub(lambda m: b"*" * len(m.group(0)), data)


class RedactingSerializer:
    """Delegates to `inner` (a LangGraph SerializerProtocol) and masks secrets on the way out."""

    def __init__(self, inner: Any) -> None:
        """Wrap `inner`, the serializer the checkpointer came with."""
        self.inner = inner

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize with the inner serializer, then mask."""
        kind, data = self.inner.dumps_typed(obj)
        return kind, mask_bytes(data)

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Load as the inner serializer does (masked values load as '***...')."""
        return self.inner.loads_typed(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def redact_checkpointer(checkpointer: Any) -> Any:
    """Give `checkpointer` a RedactingSerializer (once); returns it for chaining."""
    serde = getattr(checkpointer, "serde", None)
    if serde is not None and not isinstance(serde, RedactingSerializer):
        checkpointer.serde = RedactingSerializer(serde)
    return checkpointer
