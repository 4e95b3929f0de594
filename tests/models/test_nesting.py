from __future__ import annotations

from mockvapi.models.nesting import MAX_JSON_DEPTH, nested_deeper_than


def nest(levels: int) -> object:
    value: object = "leaf"
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


def test_the_limit_itself_is_allowed_and_one_more_level_is_not() -> None:
    assert not nested_deeper_than(nest(MAX_JSON_DEPTH))
    assert nested_deeper_than(nest(MAX_JSON_DEPTH + 1))
    assert not nested_deeper_than("scalar", limit=0)
    assert nested_deeper_than({}, limit=0)


def test_data_deeper_than_the_stack_is_measured_without_recursion() -> None:
    assert nested_deeper_than(nest(100_000))
