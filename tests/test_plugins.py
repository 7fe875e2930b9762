"""The plugin host: discovery through entry points, contract versions, option parsing."""

import types

import pytest

import anonfilter
from anonfilter.errors import AnonfilterError
from anonfilter.plugins import PluginHost, contract_compatible, parse_options
from anonfilter.testing import DETECTOR_CONFORMANCE_CHECKS


def make_plugin_module(contract="1.0", name="fake", fail=False):
    module = types.ModuleType(f"fake_plugin_{name}")
    if contract is not None:
        module.ANONFILTER_CONTRACT = contract

    @anonfilter.hookimpl
    def register_methods(register):
        if fail:
            raise RuntimeError("boom")
        register(anonfilter.MethodSpec(name=name, create=lambda: None, description="test method"))

    module.register_methods = register_methods
    return module


def test_builtin_methods_and_detector_come_from_entry_points():
    host = PluginHost()
    assert {"blur", "pixelate", "solid"} <= set(host.methods)
    assert "centerface" in host.detectors
    assert host.plugins["blur"].distribution == "anonfilter"


@pytest.mark.parametrize(
    "plugin, host, ok",
    [("1.0", "1.0", True), ("1.0", "1.3", True), ("1.4", "1.3", False), ("2.0", "1.0", False), ("x", "1.0", False)],
)
def test_contract_compatibility(plugin, host, ok):
    assert contract_compatible(plugin, host) is ok


def test_incompatible_plugin_is_refused_with_one_line_and_others_keep_working():
    host = PluginHost(load_entry_points=False)
    assert not host.register(make_plugin_module("2.0", "future"), "future", "anonfilter-future", "3.1")
    assert host.register(make_plugin_module("1.0", "present"), "present")
    assert "future" not in host.methods and "present" in host.methods
    (problem,) = host.problems
    assert "\n" not in problem
    assert "anonfilter-future 3.1" in problem and "2.0" in problem and anonfilter.CONTRACT_VERSION in problem


def test_plugin_without_contract_version_is_refused():
    host = PluginHost(load_entry_points=False)
    assert not host.register(make_plugin_module(None), "nocontract")
    assert "ANONFILTER_CONTRACT" in host.problems[0]


def test_plugin_whose_hook_raises_is_reported_not_fatal():
    host = PluginHost(load_entry_points=False)
    host.register(make_plugin_module(fail=True), "broken")
    assert "boom" in host.problems[0] and not host.methods


def test_unknown_method_lists_available_ones():
    with pytest.raises(AnonfilterError, match="unknown method 'nope'; available methods: .*blur.*pixelate"):
        PluginHost().method_spec("nope")


def test_options_are_typed_and_checked():
    spec = PluginHost().method_spec("pixelate")
    assert parse_options(spec, []) == {"cells": 8}
    assert parse_options(spec, ["cells=5"]) == {"cells": 5}
    with pytest.raises(AnonfilterError, match="no option 'size'; its options: cells"):
        parse_options(spec, ["size=3"])
    with pytest.raises(AnonfilterError, match="KEY=VALUE"):
        parse_options(spec, ["cells"])
    with pytest.raises(AnonfilterError, match="cells=x for 'pixelate': must be a whole number$"):
        parse_options(spec, ["cells=x"])
    with pytest.raises(AnonfilterError, match="strength=abc for 'synthetic': must be a number$"):
        parse_options(PluginHost().method_spec("synthetic"), ["strength=abc"])
    with pytest.raises(AnonfilterError, match="color=red for 'solid': colour must be R,G,B with values 0-255, or #rrggbb$"):
        parse_options(PluginHost().method_spec("solid"), ["color=red"])


def test_value_error_from_create_is_a_one_line_error():
    def create(size):
        raise ValueError("size must be positive")

    host = PluginHost(load_entry_points=False)
    module = types.ModuleType("fake_plugin_strict")
    module.ANONFILTER_CONTRACT = "1.0"

    @anonfilter.hookimpl
    def register_methods(register):
        register(anonfilter.MethodSpec("strict", create, "test", [anonfilter.Option("size", int, 1, "a size")]))

    module.register_methods = register_methods
    host.register(module, "strict")
    with pytest.raises(AnonfilterError, match="method 'strict': size must be positive"):
        host.create_method("strict", ["size=-1"])


@pytest.mark.parametrize("check", DETECTOR_CONFORMANCE_CHECKS, ids=lambda check: check.__name__)
def test_centerface_passes_the_detector_conformance_kit(check):
    check(lambda: PluginHost().create_detector("centerface"))


def test_plugins_command_lists_detector_options_with_their_flag(capsys):
    from anonfilter.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "detector centerface" in out and "-D resolution=..." in out
    assert "-O cells=..." in out


def make_named_method_plugin(method_name):
    module = types.ModuleType(f"fake_plugin_{method_name}")
    module.ANONFILTER_CONTRACT = "1.2"

    @anonfilter.hookimpl
    def register_methods(register):
        register(anonfilter.MethodSpec(name=method_name, create=lambda: None, description=f"from {module.__name__}"))

    module.register_methods = register_methods
    return module


@pytest.mark.parametrize("builtin_first", [True, False])
def test_a_builtin_name_stays_the_builtins_whatever_the_load_order(builtin_first):
    host = PluginHost(load_entry_points=False)
    builtin, other = make_named_method_plugin("blur"), make_named_method_plugin("blur")
    order = [(builtin, "blur", "anonfilter"), (other, "evil", "anonfilter-evil")]
    for module, name, distribution in order if builtin_first else order[::-1]:
        host.register(module, name, distribution, "1.0")
    assert host.method_spec("blur").description == f"from {builtin.__name__}"
    assert host.owner("method", "blur").distribution == "anonfilter"
    (problem,) = host.problems
    assert "plugin 'evil' (anonfilter-evil 1.0) refused" in problem


def test_a_name_two_other_distributions_register_is_used_by_neither():
    host = PluginHost(load_entry_points=False)
    host.register(make_named_method_plugin("shared"), "one", "anonfilter-one", "1.0")
    host.register(make_named_method_plugin("shared"), "two", "anonfilter-two", "2.0")
    with pytest.raises(
        AnonfilterError,
        match=r"method 'shared' is registered by plugin 'one' \(anonfilter-one 1.0\) and plugin 'two' \(anonfilter-two 2.0\)",
    ):
        host.create_method("shared")


def test_a_default_outside_its_own_range_is_the_plugins_error():
    host = PluginHost(load_entry_points=False)
    module = types.ModuleType("fake_plugin_baddefault")
    module.ANONFILTER_CONTRACT = "1.2"

    @anonfilter.hookimpl
    def register_methods(register):
        register(anonfilter.MethodSpec("baddefault", lambda size: None, "test", [anonfilter.Option("size", int, 0, "", minimum=1)]))

    module.register_methods = register_methods
    host.register(module, "baddefault")
    with pytest.raises(AnonfilterError, match="declares option size with default 0, which must be size >= 1"):
        host.create_method("baddefault")


def test_a_detector_returning_something_else_stops_the_run_naming_it():
    host = PluginHost(load_entry_points=False)
    module = types.ModuleType("fake_plugin_liar")
    module.ANONFILTER_CONTRACT = "1.2"

    class Liar:
        def detect(self, frame):
            return [(0, 0, 10, 10)]

    @anonfilter.hookimpl
    def register_detectors(register):
        register(anonfilter.DetectorSpec("liar", Liar, "returns a list"))

    module.register_detectors = register_detectors
    host.register(module, "liar", "anonfilter-liar", "0.3")
    with pytest.raises(AnonfilterError, match=r"detector 'liar' of plugin 'liar' \(anonfilter-liar 0.3\) returned list"):
        host.create_detector("liar").detect(None)
