"""An attention module's hyper-parameters: the one place that asks a constructor what it accepts.

Every registered attention constructor takes the channel count first and its hyper-parameters as
keywords with defaults (``SqueezeExcite(channels, reduction=16, ...)``). ``resolve_hparams`` turns
the keywords a grid, a paper row or a user gave into the module's full, defaulted set, which is what
a run spec stores, what its id hashes and what reports compare: a run says exactly what it built,
and changing a default changes the id of the runs it affects. ``reduction`` is one hyper-parameter
like the others; only its short display (``r16``) is special, in ``describe_hparams``.

``resolve_hparams`` also checks each given value: it must have the type of the default (an int is
accepted for a float; a ``None`` default takes an int; a tuple default takes a list of integers),
and the counts and ratios in ``POSITIVE`` / ``NON_NEGATIVE`` must have that sign, every number
must be finite, and none may exceed its bound in ``AT_MOST``.

A module may take a hyper-parameter per backbone stage (ECA-Net's released models use one kernel
size per stage): its registry metadata ``per_stage`` maps the list-valued hyper-parameter to the
keyword each module receives (``{"kernel_sizes": "kernel_size"}``), and ``stage_hparams`` picks
the stage's entry when ``build_model`` builds that stage's modules.

Choices of strings and constraints that involve the channel count are the constructors' own
checks.

A constructor with ``**kwargs`` (a plugin's) accepts any name; its given values are kept as given.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Mapping
from typing import Any

from registry.attention import ATTENTIONS
from registry.core import IncompatibleError, InvalidValueError, RegistrationError, did_you_mean

ANY = "*"  # what ``hparam_names`` lists for a constructor that takes ``**kwargs``
SHORT = {"reduction": "r"}  # hyper-parameters a label always shows, as ``<short><value>``
# hyper-parameters that are counts, sizes or ratios, by name (the same meaning in every module)
POSITIVE = ("alpha", "dilation", "gamma", "heads", "kernel_size", "ln_eps", "reduction")
NON_NEGATIVE = ("beta", "num_dilated")
# the largest value of each that any module means; beyond it a value is a typo, never a request
AT_MOST = {
    "alpha": 1.0,  # DAS: hidden width alpha x C, at most the channels themselves
    "beta": 16,
    "dilation": 64,
    "gamma": 16,
    "heads": 512,
    "kernel_size": 31,
    "ln_eps": 0.1,
    "num_dilated": 8,
    "reduction": 1024,
}


@functools.cache
def hparam_defaults(attention: str) -> dict[str, Any]:
    """``attention``'s keyword hyper-parameters and their defaults (``{}`` for ``none``).

    Raises:
        UnknownNameError: ``attention`` is not registered.
    """
    if attention == "none":
        ATTENTIONS.get(attention)
        return {}
    params = list(inspect.signature(ATTENTIONS.get(attention)).parameters.values())[1:]
    return {
        p.name: p.default
        for p in params
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is not p.empty
    }


def check_constructors() -> None:
    """Every attention constructor takes the channel count first and every hyper-parameter with
    a default (checked after a plugin is imported: ``bench.execute.plugins``).

    Raises:
        RegistrationError: the first that does not; the message names the entry and the fix.
    """
    for name in ATTENTIONS.names():
        _check_signature(f"attention {name!r} ({ATTENTIONS.origin(name)})", ATTENTIONS.get(name))


def _check_signature(where: str, ctor: Any) -> None:
    try:
        params = list(inspect.signature(ctor).parameters.values())
    except (TypeError, ValueError):
        raise RegistrationError(f"{where}: the constructor has no signature to inspect") from None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if not params or params[0].kind not in positional:
        raise RegistrationError(f"{where}: the constructor must take the channel count first")
    for param in params[1:]:
        if param.kind not in (param.VAR_POSITIONAL, param.VAR_KEYWORD) and (
            param.default is param.empty
        ):
            raise RegistrationError(
                f"{where}: hyper-parameter {param.name!r} has no default; give it one "
                f"({param.name}=...), a grid sets only the hyper-parameters it sweeps"
            )


@functools.cache
def accepts_any(attention: str) -> bool:
    """Whether ``attention``'s constructor takes ``**kwargs`` (any hyper-parameter name)."""
    if attention == "none":
        return False
    params = inspect.signature(ATTENTIONS.get(attention)).parameters.values()
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)


def hparam_names(attention: str) -> list[str]:
    """The hyper-parameter names ``attention`` accepts (``["*"]`` when it accepts any)."""
    return [ANY] if accepts_any(attention) else list(hparam_defaults(attention))


def resolve_hparams(attention: str, given: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``attention``'s full hyper-parameters: its defaults, overridden by ``given``.

    ``None`` values in ``given`` mean "the default". Module ``none`` has none and ignores
    ``given``.

    Raises:
        UnknownNameError: ``attention`` is not registered.
        IncompatibleError: ``given`` names a hyper-parameter ``attention`` does not accept.
        InvalidValueError: a given value has the wrong type or sign.
    """
    defaults = hparam_defaults(attention)
    if attention == "none":
        return {}
    given = {k: v for k, v in (given or {}).items() if v is not None}
    bad = sorted(k for k in given if k not in defaults and not accepts_any(attention))
    if bad:
        hint = did_you_mean(bad[0], list(defaults))
        raise IncompatibleError(
            f"attention {attention!r} does not accept {bad}{hint}; it accepts "
            f"{sorted(defaults) or 'no hyper-parameters'} (leave the others unset)"
        )
    for name, value in given.items():
        if name in defaults:
            _check_value(attention, name, value, defaults[name])
    return dict(sorted((defaults | given).items()))


def list_valued_hparams() -> list[str]:
    """Names of the hyper-parameters that take a list (a tuple default), across all modules."""
    names = {
        name
        for attention in ATTENTIONS.names()
        for name, default in hparam_defaults(attention).items()
        if isinstance(default, tuple)
    }
    return sorted(names)


def per_stage(attention: str) -> dict[str, str]:
    """``attention``'s per-stage hyper-parameters: list name -> keyword of one stage's module."""
    return dict(ATTENTIONS.meta(attention).get("per_stage", {})) if attention != "none" else {}


def stage_hparams(attention: str, hparams: Mapping[str, Any], position: int) -> dict[str, Any]:
    """The keywords of the module at the ``position``-th stage of the backbone (0 = first): each
    non-empty per-stage list is replaced by its entry for that stage."""
    chosen = dict(hparams)
    for list_name, name in per_stage(attention).items():
        values = chosen.get(list_name)
        if values:
            chosen[list_name], chosen[name] = (), values[position]
    return chosen


def check_per_stage(attention: str, hparams: Mapping[str, Any], n_stages: int, where: str) -> None:
    """Each non-empty per-stage list has one entry per backbone stage.

    Raises:
        IncompatibleError: a list of another length.
    """
    for list_name in per_stage(attention):
        values = hparams.get(list_name)
        if values and len(values) != n_stages:
            raise IncompatibleError(
                f"attention {attention!r}: {list_name} = {list(values)} needs one entry per stage "
                f"of {where} ({n_stages})"
            )


def _check_value(attention: str, name: str, value: Any, default: Any) -> None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, tuple):
        ints = isinstance(value, list | tuple)
        ints = ints and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ok, kind = ints, "a list of integers"
    elif isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int) or default is None:
        ok, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        ok, kind = number, "a number"
    else:
        ok, kind = isinstance(value, type(default)), f"a {type(default).__name__}"
    if ok and name in POSITIVE and value <= 0:
        ok, kind = False, "positive (> 0)"
    if ok and name in NON_NEGATIVE and value < 0:
        ok, kind = False, "non-negative (>= 0)"
    if ok and number and not (math.isfinite(value) and value <= AT_MOST.get(name, math.inf)):
        ok, kind = False, f"finite and at most {AT_MOST.get(name, 'any float')}"
    if not ok:
        raise InvalidValueError(
            f"attention {attention!r}: {name} = {value!r} must be {kind} (default {default!r})"
        )


def describe_hparams(attention: str, hparams: Mapping[str, Any]) -> list[str]:
    """Short label parts: ``r16`` for the hyper-parameters in ``SHORT``, ``name=value`` for any
    other that differs from its default."""
    defaults = hparam_defaults(attention) if attention in ATTENTIONS.names() else {}
    parts = [f"{SHORT[k]}{v}" for k, v in hparams.items() if k in SHORT]
    parts += [
        f"{k}={v}"
        for k, v in hparams.items()
        if k not in SHORT and (k not in defaults or defaults[k] != v)
    ]
    return parts
