"""Immutable records that cost nothing to define.

`dataclasses` builds each class's methods with `exec` at import time: about half a
millisecond per frozen class, and the delivery hot path defines dozens of them. A Record
gets the same behaviour (keyword/positional construction, defaults, immutability,
equality, hashing, repr, pattern matching, cheap pickling) from methods written once
here. `typing.dataclass_transform` tells type checkers to treat subclasses like frozen
dataclasses.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar, dataclass_transform

_MISSING = object()
R = TypeVar("R", bound="Record")


@dataclass_transform(frozen_default=True)
class Record:
    """Subclass and annotate fields; class-level values are their defaults."""

    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = [
            name
            for name, kind in cls.__dict__.get("__annotations__", {}).items()
            if not str(kind).startswith(("ClassVar", "typing.ClassVar"))
        ]
        cls._fields = tuple(dict.fromkeys((*cls._fields, *own)))
        cls._defaults = {
            **cls._defaults,
            **{name: cls.__dict__[name] for name in own if name in cls.__dict__},
        }
        setattr(cls, "__match_args__", cls._fields)  # noqa: B010 -- class patterns: case Span(file, line)
        for name in own:  # instance values live in __dict__; the class keeps no shadow
            if name in cls.__dict__:
                delattr(cls, name)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if not kwargs and len(args) == len(fields):  # the common case, kept fast
            object.__setattr__(self, "__dict__", dict(zip(fields, args, strict=True)))
            return
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} fields, got {len(args)}")
        values = dict(zip(fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in fields or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated field {name!r}")
            values[name] = value
        for name in fields[len(args) :]:
            if name not in values:
                default = self._defaults.get(name, _MISSING)
                if default is _MISSING:
                    raise TypeError(f"{type(self).__name__}: missing field {name!r}")
                values[name] = default
        object.__setattr__(self, "__dict__", {name: values[name] for name in fields})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self.__dict__.values()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={value!r}" for name, value in self.__dict__.items())
        return f"{type(self).__name__}({fields})"

    def as_dict(self) -> dict[str, Any]:
        """Fields as plain JSON-ready data, nested records and tuples included."""
        return {name: _plain(value) for name, value in self.__dict__.items()}


def replace(record: R, **changes: Any) -> R:
    """A copy with some fields changed, like dataclasses.replace."""
    return type(record)(**{**record.__dict__, **changes})


def _plain(value: Any) -> Any:
    if isinstance(value, Record):
        return value.as_dict()
    if hasattr(value, "_asdict"):  # a NamedTuple such as Span: its fields, not a list
        return {name: _plain(item) for name, item in value._asdict().items()}
    if isinstance(value, tuple | list | frozenset | set):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value
