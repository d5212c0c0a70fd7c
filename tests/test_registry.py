"""The shared plug-in registry: duplicates fail at registration, failed lookups list the known keys."""

from __future__ import annotations

import pytest

from tfjsconv.registry import DuplicateRegistrationError, Registry


def test_register_adds_every_key_and_lookup_returns_the_entry() -> None:
    table: Registry[str, object] = Registry("kernel")

    @table.register("Add", "AddV2")
    def add() -> int:
        return 1

    assert table.lookup("AddV2") is add
    assert table.get("Add") is add
    assert table.get("Sub") is None
    assert sorted(table.keys()) == ["Add", "AddV2"]
    assert len(table) == 2 and "Add" in table


def test_second_registration_of_a_key_is_refused_with_both_origins() -> None:
    table: Registry[str, object] = Registry("pass")
    table.add("fold", len)
    with pytest.raises(DuplicateRegistrationError, match=r"pass 'fold' registered twice \(builtins.len and "):
        table.add("fold", max)
    assert table.lookup("fold") is len


def test_failed_lookup_names_the_registry_and_lists_known_keys() -> None:
    table: Registry[tuple[str, str], int] = Registry("route")
    table.add(("keras", "tfjs_layers_model"), 1)
    table.add(("onnx", "tfjs_graph_model"), 2)
    with pytest.raises(KeyError) as info:
        table.lookup(("keras", "tf_saved_model"))
    message = str(info.value)
    assert "no route for ('keras', 'tf_saved_model')" in message
    assert "('keras', 'tfjs_layers_model'), ('onnx', 'tfjs_graph_model')" in message
