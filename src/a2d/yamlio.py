"""Strict YAML reading: a key given twice in one mapping is an error, not "the last one wins".

``load_yaml(path_or_text, what)`` reads a file (given as a ``Path``) or YAML text (a ``str``), and
raises :class:`YAMLInputError` (an ``A2DError``: one line, exit 2 in the CLI)
naming ``what`` for a missing or unreadable file, invalid YAML or a duplicate key (with its line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from a2d import A2DError


class YAMLInputError(A2DError):
    """A YAML file or text that cannot be used: unreadable, invalid, or with a duplicate key."""


class StrictLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a key repeated within one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(
                node
            )  # resolve << merge keys first: a merged key may be overridden
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class reports an unhashable key
                if key in seen:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r} (first on line {seen[key].line + 1})",
                        key_node.start_mark,
                    )
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def yaml_problem(e: yaml.YAMLError) -> str:
    """A YAML error in one line: the problem and where it is."""
    problem = getattr(e, "problem", None)
    mark = getattr(e, "problem_mark", None)
    if problem:
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        return f"{problem}{where}"
    return " ".join(str(e).split())[:200]


def load_yaml(path_or_text: str | Path, what: str = "YAML") -> Any:
    """The data of a YAML file (a ``Path``) or of YAML text (a ``str``).

    Duplicate keys, invalid YAML, a missing, unreadable or non-UTF-8 file raise YAMLInputError
    naming ``what`` (e.g. ``config file c.yaml``)."""
    if isinstance(path_or_text, Path):
        path = path_or_text
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise YAMLInputError(f"{what} not found: {path}") from None
        except IsADirectoryError:
            raise YAMLInputError(f"{what} {path} is a folder, not a file") from None
        except UnicodeDecodeError as e:
            raise YAMLInputError(f"{what} {path} is not UTF-8 text (byte {e.start})") from None
        except OSError as e:
            raise YAMLInputError(f"{what} {path} cannot be read: {e.strerror}") from None
    else:
        text = path_or_text
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise YAMLInputError(f"{what} is not valid YAML: {yaml_problem(e)}") from None
