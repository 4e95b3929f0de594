"""Seeded fakes: ids, phone numbers and names, reproducible from one seed.

Each concern draws from its own `random.Random` stream derived from the seed, so adding a draw in one
place (say, one more jitter sample) does not shift every id that follows.
"""

from __future__ import annotations

import random
import string
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faker import Faker

_ALNUM = string.ascii_letters + string.digits

_shared: Faker | None = None
_lock = threading.Lock()  # the shared Faker's stream is swapped per call: one call at a time


def shared_faker() -> Faker:
    """The process's one `Faker("en_US")`, made on first use (importing faker scans its providers)."""
    global _shared
    if _shared is None:
        with _lock:
            if _shared is None:
                from faker import Faker

                _shared = Faker("en_US")
    return _shared


class CallFaker:
    """One call's faker: the shared Faker's providers drawing from the call's own stream.

    A Faker per call was ~300 GC-tracked objects (a bound method per provider method, 25 providers) in
    reference cycles, most of a live call's objects and all of an ended call's garbage. This holds one
    `random.Random(seed)`, the very stream `Faker.seed_instance(seed)` makes, and hands it to the shared
    Faker for the length of each call: the same values as a Faker of its own, call after call,
    whatever other calls draw in between.
    """

    __slots__ = ("_random",)

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(shared_faker(), name)
        if not callable(value):
            return value
        return _Drawing(self._random, value, name)

    def __repr__(self) -> str:
        return "CallFaker(en_US)"


class _Drawing:
    """A provider method of the shared Faker, bound to one call's stream."""

    __slots__ = ("_random", "_method", "__name__")

    def __init__(self, stream: random.Random, method: Callable[..., Any], name: str) -> None:
        self._random = stream
        self._method = method
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        faker: Any = shared_faker()  # faker's stubs do not declare the `random` property
        with _lock:
            before = faker.random
            faker.random = self._random
            try:
                return self._method(*args, **kwargs)
            finally:
                faker.random = before

    def __repr__(self) -> str:
        return f"<faker.{self.__name__}>"


class Fakes:
    """Every random value of one call, derived from `seed`."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.ids = random.Random(f"mockvapi:{seed}:ids")
        self.timing = random.Random(f"mockvapi:{seed}:timing")
        self._faker: CallFaker | None = None

    @property
    def faker(self) -> CallFaker:
        """Made on first use, seeded with `seed` (its own stream, so when it is made changes nothing).

        One Faker serves every call (see CallFaker); importing faker takes ~50 ms (it scans its
        providers), which `import mockvapi` should not pay."""
        if self._faker is None:
            self._faker = CallFaker(self.seed)
        return self._faker

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.ids.getrandbits(128), version=4))

    def tool_call_id(self) -> str:
        return "call_" + "".join(self.ids.choice(_ALNUM) for _ in range(24))

    def e164(self) -> str:
        """A US number in E.164 form in the 555-01xx fictional range, never a real subscriber."""
        area = self.ids.randint(201, 989)
        return f"+1{area}55501{self.ids.randint(0, 99):02d}"

    def e164_phone_number(self) -> str:
        """A phone number as Vapi carries them (E.164, e.g. `+12125550147`), for templates: drawn from the
        seeded Faker stream (not the ids'), in the 555-01xx range reserved for fiction."""
        faker = self.faker
        return f"+1{faker.random_int(201, 989)}55501{faker.random_int(0, 99):02d}"

    def jitter(self, value: float, fraction: float) -> float:
        if fraction <= 0:
            return value
        return value * self.timing.uniform(1 - fraction, 1 + fraction)

    def __repr__(self) -> str:
        return f"Fakes(seed={self.seed})"
