"""Seeded fakes: ids, phone numbers and names, reproducible from one seed.

Each concern draws from its own `random.Random` stream derived from the seed, so adding a draw in one
place (say, one more jitter sample) does not shift every id that follows.
"""

from __future__ import annotations

import random
import string
import uuid
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faker import Faker

_ALNUM = string.ascii_letters + string.digits


class Fakes:
    """Every random value of one call, derived from `seed`."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.ids = random.Random(f"mockvapi:{seed}:ids")
        self.timing = random.Random(f"mockvapi:{seed}:timing")
        self._faker: Faker | None = None

    @property
    def faker(self) -> Faker:
        """Made on first use, seeded with `seed` (its own stream, so when it is made changes nothing).

        Importing faker takes ~50 ms (it scans its providers), which `import mockvapi` should not pay."""
        if self._faker is None:
            from faker import Faker

            self._faker = Faker("en_US")
            self._faker.seed_instance(self.seed)
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
