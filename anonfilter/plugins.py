"""The plugin host: finds plugins through entry points, checks their contract, looks up methods.

Every method and detector, the built-in ones included, comes from a plugin registered under the
``anonfilter`` entry-point group; the core imports none of them.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections import defaultdict
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

import numpy as np
import pluggy

from anonfilter import hookspecs
from anonfilter.errors import AnonfilterError
from anonfilter.hookspecs import CONTRACT_VERSION, Detector, DetectorSpec, Method, MethodSpec, Option
from anonfilter.schema import check_value, convert, help_text
from anonfilter.types import Detections, Frame

ENTRY_POINT_GROUP = "anonfilter"
BUILTIN_DISTRIBUTION = "anonfilter"
"""The distribution whose plugins are the built-in ones: their plugin, method and detector names
are protected, so no other distribution can take them, whatever the order plugins load in."""
DISABLE_ENV = "ANONFILTER_DISABLE_PLUGINS"
"""Comma-separated plugin (entry-point) or distribution names that are not loaded at all."""
Spec = Union[MethodSpec, DetectorSpec]
KINDS: dict[str, type] = {"method": MethodSpec, "detector": DetectorSpec}


@dataclass
class PluginInfo:
    """What ``anonfilter plugins`` shows about one loaded plugin."""

    name: str
    distribution: str
    version: str
    contract: str
    methods: list[MethodSpec] = field(default_factory=list)
    detectors: list[DetectorSpec] = field(default_factory=list)

    @property
    def label(self) -> str:
        """``plugin 'NAME' (DISTRIBUTION VERSION)``, how every message names the plugin."""
        return plugin_label(self.name, self.distribution, self.version)


@dataclass(frozen=True)
class Registration:
    """One method or detector as one plugin registered it."""

    spec: Spec
    plugin: PluginInfo


def plugin_label(name: str, distribution: str, version: str) -> str:
    """``plugin 'NAME' (DISTRIBUTION VERSION)`` (the version left out when unknown)."""
    return f"plugin '{name}' ({distribution}{' ' + version if version and version != '?' else ''})"


def contract_compatible(plugin_contract: str, host_contract: str = CONTRACT_VERSION) -> bool:
    """True when a plugin written for ``plugin_contract`` works with this host.

    Same major version, and the plugin's minor version is not newer than the host's.
    """
    try:
        plugin_major, plugin_minor = (int(part) for part in plugin_contract.split("."))
        host_major, host_minor = (int(part) for part in host_contract.split("."))
    except ValueError:
        return False
    return plugin_major == host_major and plugin_minor <= host_minor


def disabled_from_environment() -> set[str]:
    """The plugin and distribution names listed in :data:`DISABLE_ENV`, normalised."""
    return {_normalise(name) for name in os.environ.get(DISABLE_ENV, "").split(",") if name.strip()}


def _normalise(name: str) -> str:
    """Distribution names compare as pip compares them (case, ``-``, ``_`` and ``.`` alike)."""
    return name.strip().lower().replace("_", "-").replace(".", "-")


class PluginHost:
    """Loads plugins and hands out their methods and detectors by name.

    Problems with single plugins (an import error, an incompatible contract, a contested name)
    do not stop the host: each becomes one line in :attr:`problems`, and only a command that
    asks for what the problem concerns fails (with exit 2). Names are resolved the same whatever
    order plugins load in: a name of the built-in distribution stays the built-in's, and a name
    two other distributions register is used by neither (:attr:`contested`).
    """

    def __init__(self, load_entry_points: bool = True, disabled: Optional[Iterable[str]] = None) -> None:
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.methods: dict[str, MethodSpec] = {}
        self.detectors: dict[str, DetectorSpec] = {}
        self.problems: list[str] = []
        self.disabled = disabled_from_environment() if disabled is None else {_normalise(name) for name in disabled}
        self.contested: dict[tuple[str, str], list[Registration]] = {}
        """(kind, name) -> the registrations of a name that several distributions claim."""
        self._registrations: dict[tuple[str, str], list[Registration]] = defaultdict(list)
        self.broken: list[str] = []
        """Labels of plugins that failed to load or whose registration hook raised (they may lack names)."""
        if load_entry_points:
            self._load_entry_points(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP))

    def _load_entry_points(self, entry_points: Iterable[importlib.metadata.EntryPoint]) -> None:
        """Load every entry point not disabled; a plugin name claimed by several distributions is refused."""
        by_name: dict[str, list[importlib.metadata.EntryPoint]] = defaultdict(list)
        for entry_point in entry_points:
            if {_normalise(entry_point.name), _normalise(_distribution(entry_point)[0])} & self.disabled:
                continue
            by_name[entry_point.name].append(entry_point)
        for name, claims in sorted(by_name.items()):
            claims.sort(key=lambda claim: _distribution(claim)[0])
            builtin = [claim for claim in claims if _distribution(claim)[0] == BUILTIN_DISTRIBUTION]
            if len(claims) > 1:
                labels = " and ".join(plugin_label(name, *_distribution(claim)) for claim in claims)
                if builtin:
                    self.problems.append(
                        f"plugin name '{name}' is claimed by {labels}; only the built-in one is loaded "
                        f"(the name belongs to {BUILTIN_DISTRIBUTION})"
                    )
                    claims = builtin[:1]
                else:
                    self.problems.append(
                        f"plugin name '{name}' is claimed by {labels}; neither is loaded "
                        f"(uninstall one, or disable one with {DISABLE_ENV}=DISTRIBUTION)"
                    )
                    continue
            self._load_entry_point(claims[0])

    def _load_entry_point(self, entry_point: importlib.metadata.EntryPoint) -> None:
        distribution, version = _distribution(entry_point)
        try:
            module = entry_point.load()
        except Exception as error:  # a broken plugin must not take the host down
            label = plugin_label(entry_point.name, distribution, version)
            self.problems.append(f"{label} failed to load: {type(error).__name__}: {error}")
            self.broken.append(label)
            return
        self.register(module, entry_point.name, distribution, version)

    def register(self, module: ModuleType, name: str, distribution: str = "", version: str = "") -> bool:
        """Register a plugin module after checking its contract version; True when accepted."""
        info = PluginInfo(name, distribution or name, version or "?", "")
        contract = getattr(module, "ANONFILTER_CONTRACT", None)
        if not isinstance(contract, str):
            self.problems.append(f"{info.label} skipped: it declares no ANONFILTER_CONTRACT version")
            return False
        if not contract_compatible(contract):
            self.problems.append(
                f"{info.label} skipped: written for plugin contract {contract}, this anonfilter provides contract {CONTRACT_VERSION}"
            )
            return False
        info.contract = contract
        if name in self.plugins:
            self.problems.append(f"{info.label} skipped: the plugin name is taken by {self.plugins[name].label}")
            return False
        try:
            self._manager.register(module, name)
        except (ValueError, pluggy.PluginValidationError) as error:
            self.problems.append(f"{info.label} skipped: {error}")
            return False
        self.plugins[name] = info
        self._call_hook(info, "register_methods", "method", info.methods)
        self._call_hook(info, "register_detectors", "detector", info.detectors)
        return True

    def _call_hook(self, info: PluginInfo, hook_name: str, kind: str, owned: list) -> None:
        """Call one plugin's implementation of a registration hook, recording what it registers."""
        implementations = getattr(self._manager.hook, hook_name).get_hookimpls()

        def register(spec: Spec) -> None:
            if not isinstance(spec, KINDS[kind]) or not isinstance(spec.name, str) or not spec.name:
                self.problems.append(f"{info.label}: {hook_name} registered {spec!r}, not a named {KINDS[kind].__name__}; ignored")
                return
            owned.append(spec)
            self._add(kind, Registration(spec, info))

        for implementation in implementations:
            if implementation.plugin_name != info.name:
                continue
            try:
                implementation.function(register=register)
            except Exception as error:
                self.problems.append(f"{info.label}: {hook_name} failed: {type(error).__name__}: {error}")
                self.broken.append(info.label)

    def _add(self, kind: str, registration: Registration) -> None:
        """Add a registration of a name and decide again who owns the name (order does not matter)."""
        name = registration.spec.name
        table: dict[str, Any] = self.methods if kind == "method" else self.detectors
        claims = self._registrations[(kind, name)]
        claims.append(registration)
        builtin = [claim for claim in claims if claim.plugin.distribution == BUILTIN_DISTRIBUTION]
        if builtin:
            table[name] = builtin[0].spec
            self.contested.pop((kind, name), None)
            for claim in claims if registration in builtin else [registration]:
                if claim not in builtin:
                    self.problems.append(
                        f"{kind} '{name}' of {claim.plugin.label} refused: the name belongs to {BUILTIN_DISTRIBUTION}'s built-in {kind}"
                    )
            return
        if len(claims) == 1:
            table[name] = registration.spec
            return
        table.pop(name, None)
        self.contested[(kind, name)] = list(claims)
        self.problems.append(f"{_contested_message(kind, name, claims)}; neither is used until one is uninstalled or disabled")

    def owner(self, kind: str, name: str) -> Optional[PluginInfo]:
        """The plugin whose ``kind`` (``method`` or ``detector``) ``name`` is in use, or None."""
        table: Mapping[str, Spec] = self.methods if kind == "method" else self.detectors
        for claim in self._registrations.get((kind, name), []):
            if table.get(name) is claim.spec:
                return claim.plugin
        return None

    def method_spec(self, name: str) -> MethodSpec:
        """The registered method ``name``, or an error that lists the available ones."""
        return self._lookup("method", name)

    def detector_spec(self, name: str) -> DetectorSpec:
        """The registered detector ``name``, or an error that lists the available ones."""
        return self._lookup("detector", name)

    def _lookup(self, kind: str, name: str) -> Any:
        if (kind, name) in self.contested:
            raise AnonfilterError(
                f"{_contested_message(kind, name, self.contested[(kind, name)])}: uninstall one, or disable one "
                f"with {DISABLE_ENV}=DISTRIBUTION"
            )
        try:
            return _lookup(self.methods if kind == "method" else self.detectors, name, kind)
        except AnonfilterError as error:
            if not self.broken:
                raise
            raise PluginError(f"{error}; it may be in a plugin that failed: {', '.join(self.broken)}") from None

    def create_method(self, name: str, raw_options: Iterable[str] = ()) -> Method:
        """Create method ``name`` with ``KEY=VALUE`` options from the command line."""
        spec = self.method_spec(name)
        return _create(spec, parse_options(spec, raw_options), "method", self.owner("method", name))

    def create_detector(self, name: str, raw_options: Iterable[str] = ()) -> Detector:
        """Create detector ``name`` with ``KEY=VALUE`` options; its errors name the plugin (:class:`CheckedDetector`)."""
        spec = self.detector_spec(name)
        owner = self.owner("detector", name)
        detector = _create(spec, parse_options(spec, raw_options), "detector", owner)
        return CheckedDetector(detector, f"detector '{name}' of {owner.label if owner else 'an unknown plugin'}")


class PluginError(AnonfilterError):
    """A plugin failed (its ``create``, ``detect`` or a hook): one line naming it and its distribution, exit 2."""


class CheckedDetector:
    """A detector whose failures and malformed results stop the run with one line naming its plugin.

    The pipeline cannot anonymize a frame whose faces it does not know, so a detector error is
    not obscured and skipped like a method error: it ends the run (exit 2), with the traceback
    under ``--debug``.
    """

    def __init__(self, detector: Detector, label: str) -> None:
        self.detector = detector
        self.label = label

    def __getattr__(self, name: str) -> Any:
        """Any other attribute is the wrapped detector's (its settings, such as CenterFace's ``precision``)."""
        if "detector" not in self.__dict__:  # not yet set (copying, unpickling)
            raise AttributeError(name)
        return getattr(self.__dict__["detector"], name)

    def detect(self, frame: Frame) -> Detections:
        """The wrapped detector's :class:`Detections` for ``frame``, checked to be well-formed and finite."""
        try:
            found = self.detector.detect(frame)
        except Exception as error:
            raise PluginError(f"{self.label} failed: {type(error).__name__}: {error}") from error
        if not isinstance(found, Detections):
            raise PluginError(f"{self.label} returned {type(found).__name__}, not anonfilter.Detections")
        if not (np.isfinite(found.boxes).all() and np.isfinite(found.scores).all()):
            raise PluginError(f"{self.label} returned boxes or scores that are not finite numbers")
        return found


def _distribution(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    """The name and version of the distribution that declares ``entry_point`` (``?`` when unknown)."""
    dist = entry_point.dist
    if dist is None:
        return "?", "?"
    return dist.metadata["Name"] or "?", dist.version or "?"


def _contested_message(kind: str, name: str, claims: Sequence[Registration]) -> str:
    labels = " and ".join(claim.plugin.label for claim in claims)
    return f"{kind} '{name}' is registered by {labels}"


def _create(spec: Spec, options: dict[str, Any], kind: str, owner: Optional[PluginInfo]) -> Any:
    """``spec.create(**options)``; any error from it is a one-line :class:`PluginError` naming the plugin.

    A ``ValueError`` or ``TypeError`` is the plugin refusing an option value, and its message is
    shown as it is; anything else is a failure of the plugin.
    """
    try:
        return spec.create(**options)
    except AnonfilterError:
        raise
    except (TypeError, ValueError) as error:
        raise PluginError(f"{kind} '{spec.name}': {error}") from error
    except Exception as error:
        where = owner.label if owner else "its plugin"
        raise PluginError(f"{kind} '{spec.name}' of {where} failed to start: {type(error).__name__}: {error}") from error


def _lookup(table: Mapping[str, Spec], name: str, kind: str) -> Any:
    if name not in table:
        available = ", ".join(sorted(table)) or "none installed"
        raise AnonfilterError(f"unknown {kind} '{name}'; available {kind}s: {available}")
    return table[name]


def parse_options(spec: Spec, raw_options: Iterable[str]) -> dict[str, Any]:
    """Turn ``["KEY=VALUE", ...]`` into keyword arguments typed and range-checked by ``spec.options``.

    Options not given get their defaults (checked against the same range: a default outside it
    is the plugin's mistake); an unknown key or a bad value is an :class:`AnonfilterError` naming
    the plugin's options or the value's range.
    """
    known: dict[str, Option] = {option.name: option for option in spec.options}
    values = {name: option.default for name, option in known.items()}
    for name, option in known.items():
        try:
            check_value(option, option.default)
        except ValueError as error:
            raise PluginError(f"'{spec.name}' declares option {name} with default {option.default!r}, which {error}") from None
    for raw in raw_options:
        key, sep, value = raw.partition("=")
        if not sep:
            raise AnonfilterError(f"option '{raw}' must look like KEY=VALUE")
        if key not in known:
            names = ", ".join(sorted(known)) or "none"
            raise AnonfilterError(f"'{spec.name}' has no option '{key}'; its options: {names}")
        try:
            values[key] = convert(known[key], value)
        except (TypeError, ValueError) as error:
            raise AnonfilterError(f"option {key}={value} for '{spec.name}': {error}") from None
    return values


def option_summary(options: Sequence[Option], flag: str = "-O") -> str:
    """One line per option, for ``anonfilter plugins`` (``flag``: ``-O`` for methods, ``-D`` for detectors)."""
    return "\n".join(f"    {flag} {option.name}=...: {help_text(option)}" for option in options)
