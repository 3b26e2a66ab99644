"""Change a few values of a YAML document a person wrote, leaving every other character as it
was: their comments, order, quoting and layout survive an edit made through a form.

Each change rewrites only the text of one value (a new value is written in flow style,
`[甲, 乙]`, on one line); a key added goes on a line of its own beside its siblings, a key
removed takes its line with it. The result is checked by loading it: it must be the document
with exactly these changes, or PatchError is raised and nothing is saved.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

Loc = tuple[int | str, ...]
REMOVE = None  # the value of a change that removes its key


class PatchError(ValueError):
    """The document's layout does not allow this change in place (say so; save nothing)."""


def _flow(value: Any) -> str:
    """`value` as YAML on one line, quoted where YAML needs it."""
    text: str = yaml.safe_dump([value], default_flow_style=True, allow_unicode=True,
                               width=2**30)
    return text.strip()[1:-1]  # a list's brackets: a bare scalar would be dumped as a document


def _key(node: yaml.Node, key: int | str) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        return next(((k, v) for k, v in node.value if k.value == str(key)), None)
    return None


def _node(root: yaml.Node, loc: Loc) -> yaml.Node:
    node = root
    for key in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
            continue
        pair = _key(node, key)
        if pair is None:
            raise PatchError(f"no {key!r} in the document")
        node = pair[1]
    return node


def _end(text: str, node: yaml.Node) -> int:
    """Where the text of `node` ends: a block collection's own end mark is the next token."""
    if isinstance(node, yaml.CollectionNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _end(text, last[1] if isinstance(last, tuple) else last)
    end: int = node.end_mark.index
    while end > node.start_mark.index and text[end - 1] in " \n":
        end -= 1
    return end


def _line_end(text: str, index: int) -> int:
    """The index just after the newline ending the line that holds `index`."""
    newline = text.find("\n", index)
    return len(text) if newline < 0 else newline + 1


def _set(text: str, root: yaml.Node, loc: Loc, value: Any, after: Sequence[str]) -> str:
    parent = _node(root, loc[:-1])
    if not isinstance(parent, yaml.MappingNode):
        raise PatchError(f"{loc[:-1]} is not a mapping")
    pair = _key(parent, loc[-1])
    if pair is not None:
        key, old = pair
        if isinstance(old, yaml.CollectionNode) and not old.flow_style:
            # a block list: the new value goes after the key, on its line
            return f"{text[:key.end_mark.index]}: {_flow(value)}{text[_end(text, old):]}"
        return f"{text[:old.start_mark.index]}{_flow(value)}{text[_end(text, old):]}"
    entry = f"{loc[-1]}: {_flow(value)}"
    if parent.flow_style:
        close = parent.end_mark.index - 1
        if text[close] != "}":
            raise PatchError("unexpected end of a flow mapping")
        return f"{text[:close]}{', ' if parent.value else ''}{entry}{text[close:]}"
    siblings = [(k, v) for k, v in parent.value if k.value in after] or parent.value
    indent = parent.value[0][0].start_mark.column
    at = _line_end(text, _end(text, siblings[-1][1]))
    newline = "" if text[:at].endswith("\n") else "\n"
    return f"{text[:at]}{newline}{' ' * indent}{entry}\n{text[at:]}"


def _remove(text: str, root: yaml.Node, loc: Loc) -> str:
    parent = _node(root, loc[:-1])
    pair = _key(parent, loc[-1])
    if pair is None or not isinstance(parent, yaml.MappingNode):
        return text
    key, old = pair
    i = parent.value.index(pair)
    if parent.flow_style:
        if i > 0:
            start = _end(text, parent.value[i - 1][1])
            return text[:start] + text[_end(text, old):]
        stop = parent.value[1][0].start_mark.index if len(parent.value) > 1 else _end(text, old)
        return text[:key.start_mark.index] + text[stop:]
    start = text.rfind("\n", 0, key.start_mark.index) + 1
    if text[start:key.start_mark.index].strip():
        raise PatchError(f"{loc[-1]} shares its line with another key")
    return text[:start] + text[_line_end(text, _end(text, old)):]


def _apply_to_data(data: Any, loc: Loc, value: Any) -> None:
    node = data
    for key in loc[:-1]:
        node = node[key]
    if value is REMOVE:
        node.pop(loc[-1], None)
    else:
        node[loc[-1]] = value


def patch(text: str, changes: Mapping[Loc, Any], after: Mapping[str, Sequence[str]]) -> str:
    """`text` with each change made (a value, or REMOVE); `after[key]` names the sibling keys
    after which a new `key` reads best (phrases before variants…)."""
    expected = copy.deepcopy(yaml.safe_load(text))
    for loc, value in changes.items():
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        if root is None:
            raise PatchError("empty document")
        if value is REMOVE:
            text = _remove(text, root, loc)
        else:
            text = _set(text, root, loc, value, after.get(str(loc[-1]), ()))
        _apply_to_data(expected, loc, value)
    try:
        result = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise PatchError(f"the edit made the document invalid YAML: {e}") from e
    if result != expected:
        raise PatchError("the edit changed more than the values asked for")
    return text
