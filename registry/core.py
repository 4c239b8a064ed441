"""Name -> constructor registries with loud failures.

Modelled on fvcore's ``Registry``: entries are added with a decorator or a call, a duplicate name is
an error (a silently overwritten entry would corrupt an ablation), and an unknown name fails with
the name and the closest matches in the message.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

STAGE_RULES = ("all", "all_but_last", "all_but_first")  # which stages a module goes after


def docstring_summary(doc: str) -> str:
    """The first sentence of a docstring's first paragraph as plain text (what `bench list` shows):
    lines joined, reST markup (````code````, ``:role:`x```, ``*emphasis*``) dropped."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    plain = re.sub(r":\w+:`([^`]*)`", r"\1", paragraph).replace("`", "")
    plain = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"\1", plain)
    end = re.search(r"[.!?](?=\s+[A-Z(])", plain)  # not "e.g. x": a sentence starts upper-case
    return plain[: end.end()] if end else plain


class UnknownNameError(LookupError):
    """A name that is not in a registry; the message carries "did you mean" suggestions."""

    def __str__(self) -> str:  # LookupError would quote the message like a key
        return str(self.args[0])


class RegistrationError(ValueError):
    """An entry that breaks its registry's contract (an unknown metadata key, a hyper-parameter
    without a default); raised when the entry is registered, so a plugin fails on import."""


class IncompatibleError(ValueError):
    """A combination the registry can build the parts of but not the whole (e.g. a spatial module
    on a 1x1 map)."""


class InvalidValueError(ValueError):
    """A hyper-parameter value outside its domain (a wrong type, a reduction of 0); the message
    names the module, the hyper-parameter, the value and what it must be."""


def did_you_mean(name: str, choices: list[str]) -> str:
    """A ``"; did you mean 'x'?"`` suffix for an error message, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


class Registry:
    """A named collection of constructors.

    Args:
        kind: what the entries are ("backbone", "attention", ...), used in error messages.
        contract: the constructor contract every entry follows, shown by ``describe``.
        check: ``check(name, obj, meta) -> meta`` validates a new entry against the contract and
            returns its metadata with defaults filled in; raises ``RegistrationError``.
        unknown_hint: appended to the message of an unknown name (e.g. how to add one's own).
    """

    def __init__(
        self,
        kind: str,
        contract: str = "",
        *,
        check: Callable[[str, Callable[..., Any], dict[str, Any]], dict[str, Any]] | None = None,
        unknown_hint: str = "",
    ) -> None:
        self.kind = kind
        self.contract = contract
        self._check = check
        self._unknown_hint = unknown_hint
        self._entries: dict[str, Callable[..., Any]] = {}
        self._descriptions: dict[str, str] = {}
        self._meta: dict[str, dict[str, Any]] = {}

    def register(
        self,
        name: str,
        obj: Callable[..., Any] | None = None,
        *,
        description: str = "",
        **meta: Any,
    ) -> Any:
        """Add ``obj`` under ``name``; usable as ``@REG.register("x", description=...)`` or a call.

        Keyword arguments beyond ``description`` are kept as metadata (e.g. ``default_placement``).
        """

        def add(target: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise RegistrationError(f"{self.kind} {name!r} is already registered")
            checked = self._check(name, target, dict(meta)) if self._check else dict(meta)
            self._entries[name] = target
            doc = getattr(target, "__doc__", None) or ""
            self._descriptions[name] = description or docstring_summary(doc)
            self._meta[name] = checked
            return target

        return add if obj is None else add(obj)

    def get(self, name: str) -> Callable[..., Any]:
        """The constructor registered as ``name``; raises ``UnknownNameError`` with suggestions."""
        try:
            return self._entries[name]
        except KeyError:
            hint = did_you_mean(name, self.names())
            raise UnknownNameError(
                f"unknown {self.kind} {name!r}{hint} (`bench list` shows them all"
                f"{self._unknown_hint})"
            ) from None

    def describe(self, name: str) -> str:
        """The one-line description of ``name``."""
        self.get(name)
        return self._descriptions[name]

    def meta(self, name: str) -> dict[str, Any]:
        """The metadata registered with ``name`` (a copy)."""
        self.get(name)
        return dict(self._meta[name])

    def origin(self, name: str) -> str:
        """Where ``name``'s constructor is defined, as ``module:qualname`` (a
        ``functools.partial`` variant names the function it wraps)."""
        target = self.get(name)
        while isinstance(target, functools.partial):
            target = target.func
        module = getattr(target, "__module__", None) or "?"
        return f"{module}:{getattr(target, '__qualname__', type(target).__qualname__)}"

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
