"""Clean JSON schemas for LLM function declarations.

MCP servers publish full JSON Schema (``$ref``/``$defs``, ``anyOf`` with
``null``, ``title`` on every field, ``additionalProperties`` ...). Gemini's
function declarations accept a subset, and llama.cpp's grammar builder chokes
on some of the rest, so every tool schema goes through :func:`clean_schema`:
references inlined, ``null`` alternatives dropped (an argument the LLM has no
value for is left out, not sent as null), and only keywords both LLM back ends
understand kept. The result is plain JSON Schema, so it also reads as
Gemini's OpenAPI-style ``Schema``.
"""

from __future__ import annotations

from typing import Any

#: Keywords kept as they are (besides the structural ones handled below).
_SCALAR_KEYWORDS = (
    "description",
    "enum",
    "default",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
)
_TYPES = {"string", "number", "integer", "boolean", "array", "object"}
#: Formats Gemini accepts; others are dropped (it rejects e.g. "uri").
_FORMATS = {
    "string": {"enum", "date-time"},
    "number": {"float", "double"},
    "integer": {"int32", "int64"},
}
_MAX_DEPTH = 8


def clean_schema(schema: Any) -> dict[str, Any]:
    """The argument schema of a tool, as an LLM function declaration wants it.

    Always an object schema with ``properties`` (possibly empty).
    """
    root = schema if isinstance(schema, dict) else {}
    cleaned = _clean(root, root.get("$defs") or root.get("definitions") or {}, depth=0)
    cleaned["type"] = "object"
    cleaned.setdefault("properties", {})
    return cleaned


def _clean(node: Any, defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict) or depth > _MAX_DEPTH:
        return {}
    node = _resolve_ref(node, defs)
    out: dict[str, Any] = {}

    variants = node.get("anyOf") or node.get("oneOf")
    if isinstance(variants, list):
        others = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
        if len(others) == 1:
            merged = {**_resolve_ref(others[0], defs), **_without_variants(node)}
            return _clean(merged, defs, depth + 1)
        if others:
            out["anyOf"] = [_clean(v, defs, depth + 1) for v in others]

    kind = node.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k in _TYPES]
        kind = kinds[0] if len(kinds) == 1 else None
        if len(kinds) > 1:
            out["anyOf"] = [{"type": k} for k in kinds]
    if "const" in node and "enum" not in node:
        out["enum"] = [node["const"]]
    if kind in _TYPES:
        out["type"] = kind
    elif "properties" in node:
        out["type"] = "object"
    elif _all_strings(out.get("enum", node.get("enum"))):
        out["type"] = "string"

    for keyword in _SCALAR_KEYWORDS:
        # A null default says nothing the LLM can use (and Gemini reads it as a value).
        if node.get(keyword) is not None:
            out[keyword] = node[keyword]
    if "description" not in out and isinstance(node.get("title"), str) and depth > 0:
        # A field's title is often its only documentation; keep it as the description.
        out["description"] = node["title"]
    fmt = node.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS.get(str(out.get("type")), set()):
        out["format"] = fmt

    properties = node.get("properties")
    if isinstance(properties, dict):
        out["properties"] = {
            str(name): _clean(value, defs, depth + 1) for name, value in properties.items()
        }
        required = [name for name in node.get("required", []) if name in out["properties"]]
        if required:
            out["required"] = required
    if out.get("type") == "array":
        out["items"] = _clean(node.get("items", {}), defs, depth + 1) or {"type": "string"}
    return out


def _all_strings(values: Any) -> bool:
    return isinstance(values, list) and bool(values) and all(isinstance(v, str) for v in values)


def _without_variants(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in ("anyOf", "oneOf", "type")}


def _resolve_ref(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Inline a local ``#/$defs/Name`` reference (siblings of ``$ref`` win)."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target = defs.get(ref.rsplit("/", 1)[-1])
    if not isinstance(target, dict):
        return {k: v for k, v in node.items() if k != "$ref"}
    return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
