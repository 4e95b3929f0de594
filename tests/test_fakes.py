"""Seeded fakes: one shared Faker, each call drawing from its own stream."""

from __future__ import annotations

import pytest
from faker import Faker

from mockvapi.fakes import CallFaker, Fakes, shared_faker


def _own(seed: int) -> Faker:
    faker = Faker("en_US")
    faker.seed_instance(seed)
    return faker


def test_a_call_faker_gives_what_a_faker_of_its_own_seeded_alike_gives() -> None:
    own, call = _own(42), CallFaker(42)
    for method in ("name", "phone_number", "email", "address", "first_name", "company"):
        assert getattr(call, method)() == getattr(own, method)()
    assert call.date_of_birth(minimum_age=20, maximum_age=30) == own.date_of_birth(minimum_age=20, maximum_age=30)


def test_calls_drawing_in_turns_do_not_shift_each_others_values() -> None:
    a, b = CallFaker(1), CallFaker(2)
    mixed = [(a.name(), b.name()) for _ in range(5)]
    alone_a, alone_b = _own(1), _own(2)
    assert [x for x, _ in mixed] == [alone_a.name() for _ in range(5)]
    assert [y for _, y in mixed] == [alone_b.name() for _ in range(5)]


def test_the_shared_faker_keeps_its_own_stream_and_is_made_once() -> None:
    shared = shared_faker()
    before = shared.random  # type: ignore[attr-defined]
    CallFaker(3).name()
    assert shared.random is before  # type: ignore[attr-defined]
    assert shared_faker() is shared
    assert Fakes(5).faker is not Fakes(5).faker  # each call its own stream, both on the one Faker


def test_unknown_and_private_names_are_attribute_errors() -> None:
    call = CallFaker(0)
    with pytest.raises(AttributeError):
        call.no_such_provider  # noqa: B018
    with pytest.raises(AttributeError):
        call._factories  # noqa: B018
    assert hasattr(call, "name") and not hasattr(call, "_random_secret")
    assert repr(call) == "CallFaker(en_US)" and repr(call.name) == "<faker.name>"
