"""How ChromaStore lays items out in Chroma metadata, and how it filters them.

Every record carries its namespace (as JSON, one `ns<i>` field per label for list_namespaces'
wildcards, and one `nsp<d>` field per prefix depth, so a namespace prefix is one Chroma equality
however deep), its key, and each top-level scalar of the value as `v:<field>`.
Search filters are pushed down to Chroma only where Chroma selects a superset of what the
Python matcher (`matches`, the ground truth, with InMemoryStore's semantics) keeps; the
matcher then runs on every candidate, so results are exact.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from langgraph.store.base import (
    Item,
    ListNamespacesOp,
    MatchCondition,
    SearchItem,
    get_text_at_path,
    tokenize_path,
)

Where = dict[str, Any]
FieldPath = tuple[str, Any]
"""A field path's name and its tokens ('$' stands for the whole value)."""
Scalar = str | int | float | bool
COMPARISONS = ("$gt", "$gte", "$lt", "$lte")


def item_id(namespace: Sequence[str], key: str) -> str:
    """A Chroma id for (namespace, key): a hash, since keys may hold any character."""
    raw = json.dumps([list(namespace), key], ensure_ascii=False)
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def item_metadata(
    namespace: Sequence[str], key: str, value: Mapping[str, Any], created: str, updated: str
) -> dict[str, Scalar]:
    """The metadata stored with an item (and copied onto each of its vectors)."""
    meta: dict[str, Scalar] = {
        "ns": _ns_json(namespace),
        "ns_depth": len(namespace),
        "key": key,
        "created_at": created,
        "updated_at": updated,
    }
    for i, label in enumerate(namespace):
        meta[f"ns{i}"] = label
        meta[f"nsp{i + 1}"] = _ns_json(namespace[: i + 1])
    for field, field_value in value.items():
        if isinstance(field_value, (str, bool)):
            meta[f"v:{field}"] = field_value
        elif _number(field_value) and math.isfinite(field_value):
            meta[f"v:{field}"] = float(field_value)  # Chroma compares an int field to ints only
    return meta


def _ns_json(namespace: Sequence[str]) -> str:
    return json.dumps(list(namespace), ensure_ascii=False)


def prefix_condition(prefix: Sequence[str]) -> list[Where]:
    """The one Chroma condition selecting namespaces that start with `prefix` (none when empty).

    One equality on `nsp<depth>` costs Chroma a fraction of `prefix_where`'s one per label, each
    of which it evaluates over every record it matches.
    """
    return [{f"nsp{len(prefix)}": {"$eq": _ns_json(prefix)}}] if prefix else []


def has_prefix(namespace: Sequence[str], prefix: Sequence[str]) -> bool:
    """Whether `namespace` starts with `prefix` (labels compared exactly)."""
    return tuple(namespace[: len(prefix)]) == tuple(prefix)


def prefix_where(prefix: Sequence[str], *, wildcards: bool = True) -> list[Where]:
    """Chroma conditions selecting namespaces that start with `prefix`.

    With `wildcards` (list_namespaces' match conditions), a '*' label matches any label.
    """
    return [
        {f"ns{i}": {"$eq": label}}
        for i, label in enumerate(prefix)
        if not (wildcards and label == "*")
    ]


def filter_where(flt: Mapping[str, Any] | None) -> list[Where]:
    """Chroma conditions implied by a store filter; each selects a superset of its matches.

    Plain and `$eq` equality push down for strings and for numbers other than 0 and 1 (Python
    treats True == 1); `$ne` for any scalar (Chroma keeps records lacking the field, as Python
    does); `$gt`/`$gte`/`$lt`/`$lte` for numbers. Anything else is left to `matches`.
    """
    out: list[Where] = []
    for field, want in (flt or {}).items():
        name = f"v:{field}"
        ops = want if isinstance(want, dict) and any(k.startswith("$") for k in want) else None
        if ops is None:
            if _exact_eq(want):
                out.append({name: {"$eq": _plain(want)}})
            continue
        for op, operand in ops.items():
            if op == "$eq" and _exact_eq(operand):
                out.append({name: {"$eq": _plain(operand)}})
            elif op == "$ne" and isinstance(operand, (str, int, float)):
                out.append({name: {"$ne": _plain(operand)}})
            elif op in COMPARISONS and _number(operand):
                out.append({name: {op: float(operand)}})
    return out


def _plain(value: Scalar) -> Scalar:
    """A filter operand as stored in metadata: numbers (not bools) as floats."""
    return float(value) if _number(value) else value


def _exact_eq(value: object) -> bool:
    if isinstance(value, str):
        return True
    return _number(value) and math.isfinite(value) and value not in (0, 1)  # type: ignore[arg-type]


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def combine(conditions: Sequence[Where]) -> Where | None:
    """One Chroma `where` from a list of conditions (None when there are none)."""
    if not conditions:
        return None
    if len(conditions) == 1:
        return dict(conditions[0])
    return {"$and": list(conditions)}


def matches(value: Mapping[str, Any], flt: Mapping[str, Any] | None) -> bool:
    """Whether an item's value passes a store filter (InMemoryStore's semantics).

    One deviation: the comparison operators match numbers only, where InMemoryStore calls
    float() on the stored value (and raises on a missing field or a non-numeric string).
    """
    return all(_compare(value.get(field), want) for field, want in (flt or {}).items())


def _compare(have: Any, want: Any) -> bool:
    if isinstance(want, dict):
        if any(k.startswith("$") for k in want):
            return all(_apply(have, op, operand) for op, operand in want.items())
        return isinstance(have, dict) and all(_compare(have.get(k), v) for k, v in want.items())
    if isinstance(want, (list, tuple)):
        return (
            isinstance(have, (list, tuple))
            and len(have) == len(want)
            and all(_compare(h, w) for h, w in zip(have, want, strict=True))
        )
    return bool(have == want)


def _apply(have: Any, op: str, operand: Any) -> bool:
    if op == "$eq":
        return bool(have == operand)
    if op == "$ne":
        return bool(have != operand)
    if op not in COMPARISONS:
        raise ValueError(f"Unsupported operator: {op}")
    if not (_number(have) and _number(operand)):
        return False
    if op == "$gt":
        return bool(have > operand)
    if op == "$gte":
        return bool(have >= operand)
    if op == "$lt":
        return bool(have < operand)
    return bool(have <= operand)


def namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    """Whether `namespace` meets a prefix/suffix condition ('*' matches any one label)."""
    path = condition.path
    if len(namespace) < len(path):
        return False
    if condition.match_type == "prefix":
        pairs = zip(namespace, path, strict=False)
    elif condition.match_type == "suffix":
        pairs = zip(reversed(namespace), reversed(path), strict=False)
    else:
        raise ValueError(f"Unsupported match type: {condition.match_type}")
    return all(want == "*" or have == want for have, want in pairs)


def paths(fields: Sequence[str]) -> list[FieldPath]:
    """IndexConfig `fields` (or a put's `index`) as (name, tokens) pairs."""
    return [(p, p if p == "$" else tokenize_path(p)) for p in fields]


def texts_at(value: Mapping[str, Any], fields: Sequence[FieldPath]) -> list[tuple[str, str]]:
    """(vector name, text) pairs to embed, named as InMemoryStore names them (`path.i` for many)."""
    out: list[tuple[str, str]] = []
    for name, tokens in fields:
        texts = get_text_at_path(dict(value), tokens)
        many = len(texts) > 1
        out.extend((f"{name}.{n}" if many else name, t) for n, t in enumerate(texts))
    return out


def to_item(document: str | None, meta: Mapping[str, Any]) -> Item:
    """An Item from an items-collection record (value JSON in the document)."""
    return Item(
        value=json.loads(document or "{}"),
        key=str(meta["key"]),
        namespace=tuple(json.loads(str(meta["ns"]))),
        created_at=datetime.fromisoformat(str(meta["created_at"])),
        updated_at=datetime.fromisoformat(str(meta["updated_at"])),
    )


def scored(item: Item, score: float | None) -> SearchItem:
    """`item` as a search result with `score` (None: unranked)."""
    return SearchItem(item.namespace, item.key, item.value, item.created_at, item.updated_at, score)


def select_namespaces(
    namespaces: Iterable[tuple[str, ...]], op: ListNamespacesOp
) -> list[tuple[str, ...]]:
    """list_namespaces' answer from every stored namespace: matched, cut to depth, sorted, paged."""
    conditions = op.match_conditions or ()
    names = {ns for ns in namespaces if all(namespace_matches(c, ns) for c in conditions)}
    if op.max_depth is not None:
        names = {ns[: op.max_depth] for ns in names}
    return sorted(names)[op.offset : op.offset + op.limit]
