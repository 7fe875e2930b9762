"""The plugin host: finds plugins through entry points, checks their contract, looks up methods.

Every method and detector, the built-in ones included, comes from a plugin registered under the
``anonfilter`` entry-point group; the core imports none of them.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Iterable, Mapping, Sequence, Union

import pluggy

from anonfilter import hookspecs
from anonfilter.errors import AnonfilterError
from anonfilter.hookspecs import CONTRACT_VERSION, Detector, DetectorSpec, Method, MethodSpec, Option

ENTRY_POINT_GROUP = "anonfilter"
Spec = Union[MethodSpec, DetectorSpec]


@dataclass
class PluginInfo:
    """What ``anonfilter plugins`` shows about one loaded plugin."""

    name: str
    distribution: str
    version: str
    contract: str
    methods: list[MethodSpec] = field(default_factory=list)
    detectors: list[DetectorSpec] = field(default_factory=list)


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


class PluginHost:
    """Loads plugins and hands out their methods and detectors by name.

    Problems with single plugins (an import error, an incompatible contract, a name already
    taken) do not stop the host: each becomes one line in :attr:`problems`.
    """

    def __init__(self, load_entry_points: bool = True) -> None:
        self._manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._manager.add_hookspecs(hookspecs)
        self.plugins: dict[str, PluginInfo] = {}
        self.methods: dict[str, MethodSpec] = {}
        self.detectors: dict[str, DetectorSpec] = {}
        self.problems: list[str] = []
        if load_entry_points:
            for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                self._load_entry_point(entry_point)

    def _load_entry_point(self, entry_point: importlib.metadata.EntryPoint) -> None:
        dist = entry_point.dist
        distribution = dist.metadata["Name"] if dist is not None else "?"
        version = dist.version if dist is not None else "?"
        try:
            module = entry_point.load()
        except Exception as error:  # a broken plugin must not take the host down
            self.problems.append(f"plugin '{entry_point.name}' ({distribution} {version}) failed to load: {error}")
            return
        self.register(module, entry_point.name, distribution, version)

    def register(self, module: ModuleType, name: str, distribution: str = "", version: str = "") -> bool:
        """Register a plugin module after checking its contract version; True when accepted."""
        label = f"plugin '{name}' ({distribution or name} {version or '?'})".replace(" ?)", ")")
        contract = getattr(module, "ANONFILTER_CONTRACT", None)
        if not isinstance(contract, str):
            self.problems.append(f"{label} skipped: it declares no ANONFILTER_CONTRACT version")
            return False
        if not contract_compatible(contract):
            self.problems.append(
                f"{label} skipped: written for plugin contract {contract}, "
                f"this anonfilter provides contract {CONTRACT_VERSION}"
            )
            return False
        info = PluginInfo(name, distribution or name, version or "?", contract)
        try:
            self._manager.register(module, name)
        except pluggy.PluginValidationError as error:
            self.problems.append(f"{label} skipped: {error}")
            return False
        self._call_hook(name, "register_methods", info.methods, self.methods, label)
        self._call_hook(name, "register_detectors", info.detectors, self.detectors, label)
        self.plugins[name] = info
        return True

    def _call_hook(self, plugin_name: str, hook_name: str, owned: list, table: dict[str, Any], label: str) -> None:
        """Call one plugin's implementation of a registration hook, recording what it registers."""
        implementations = getattr(self._manager.hook, hook_name).get_hookimpls()

        def register(spec: Spec) -> None:
            if spec.name in table:
                self.problems.append(f"{label}: name '{spec.name}' is already taken; ignored")
                return
            table[spec.name] = spec
            owned.append(spec)

        for implementation in implementations:
            if implementation.plugin_name != plugin_name:
                continue
            try:
                implementation.function(register=register)
            except Exception as error:
                self.problems.append(f"{label}: {hook_name} failed: {error}")

    def method_spec(self, name: str) -> MethodSpec:
        """The registered method ``name``, or an error that lists the available ones."""
        return _lookup(self.methods, name, "method")

    def detector_spec(self, name: str) -> DetectorSpec:
        """The registered detector ``name``, or an error that lists the available ones."""
        return _lookup(self.detectors, name, "detector")

    def create_method(self, name: str, raw_options: Iterable[str] = ()) -> Method:
        """Create method ``name`` with ``KEY=VALUE`` options from the command line."""
        spec = self.method_spec(name)
        return _create(spec, parse_options(spec, raw_options), "method")

    def create_detector(self, name: str, raw_options: Iterable[str] = ()) -> Detector:
        """Create detector ``name`` with ``KEY=VALUE`` options from the command line."""
        spec = self.detector_spec(name)
        return _create(spec, parse_options(spec, raw_options), "detector")


def _create(spec: Spec, options: dict[str, Any], kind: str) -> Any:
    """``spec.create(**options)``; a ``ValueError`` or ``TypeError`` from it is a one-line user error."""
    try:
        return spec.create(**options)
    except (TypeError, ValueError) as error:
        raise AnonfilterError(f"{kind} '{spec.name}': {error}") from None


def _lookup(table: Mapping[str, Spec], name: str, kind: str) -> Any:
    if name not in table:
        available = ", ".join(sorted(table)) or "none installed"
        raise AnonfilterError(f"unknown {kind} '{name}'; available {kind}s: {available}")
    return table[name]


def parse_options(spec: Spec, raw_options: Iterable[str]) -> dict[str, Any]:
    """Turn ``["KEY=VALUE", ...]`` into keyword arguments typed by ``spec.options``.

    Options not given get their defaults; an unknown key or a bad value is an
    :class:`AnonfilterError` naming the plugin's options.
    """
    known: dict[str, Option] = {option.name: option for option in spec.options}
    values = {name: option.default for name, option in known.items()}
    for raw in raw_options:
        key, sep, value = raw.partition("=")
        if not sep:
            raise AnonfilterError(f"option '{raw}' must look like KEY=VALUE")
        if key not in known:
            names = ", ".join(sorted(known)) or "none"
            raise AnonfilterError(f"'{spec.name}' has no option '{key}'; its options: {names}")
        try:
            values[key] = known[key].type(value)
        except (TypeError, ValueError) as error:
            raise AnonfilterError(f"option {key}={value} for '{spec.name}': {error}") from None
    return values


def option_summary(options: Sequence[Option], flag: str = "-O") -> str:
    """One line per option, for ``anonfilter plugins`` (``flag``: ``-O`` for methods, ``-D`` for detectors)."""
    return "\n".join(f"    {flag} {o.name}=... (default {o.default!r}): {o.help}" for o in options)
