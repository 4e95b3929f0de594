"""Seeded fakes: ids, phone numbers and names, reproducible from one seed.

Each concern draws from its own `random.Random` stream derived from the seed, so adding a draw in one
place (say, one more jitter sample) does not shift every id that follows. A stream lets go of its state
while the call does not draw (`Stream.park`): a Mersenne Twister is 2.5 kB, three per live call.
"""

from __future__ import annotations

import random
import string
import sys
import threading
import uuid
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from faker import Faker

_ALNUM = string.ascii_letters + string.digits

class _Counted(random.Random):
    """A `random.Random` that counts the 32-bit words it has drawn: every draw goes through `random()` (two
    words) or `getrandbits(k)` (k/32 rounded up; none for k = 0), so the count says where the stream is.
    Defining `getrandbits` keeps `_randbelow` the one `random.Random` uses: the same values, draw for draw."""

    words = 0

    def random(self) -> float:
        self.words += 2
        return super().random()

    def getrandbits(self, k: int, /) -> int:
        if k > 0:
            self.words += (k + 31) // 32
        return super().getrandbits(k)


class Stream:
    """One seeded stream that can let go of its state between uses (`park`) and resume where it was: made
    again from its seed, moved on by the words it had drawn (one `getrandbits`, a few µs per thousand
    words), with the Gaussian it had kept. It draws exactly what one `random.Random(seed)` would.

    `random()` and `getrandbits()` are served, while parked, from a read-ahead of the stream's next 32-bit
    words (CPython's own arithmetic on them, tested against `random.Random`): a call draws jitter for
    every token it plans, and resuming the generator for each burst of draws (4 µs of seeding) was 5 % of
    a call's CPU. Any other draw takes the whole generator (`get`), which starts from the words used.
    """

    __slots__ = ("_seed", "_random", "_words", "_gauss", "_ahead", "_next", "_filler")

    def __init__(self, seed: int | str) -> None:
        self._seed = seed
        self._random: _Counted | None = None
        self._words = 0  # words used so far (read-ahead words count once used)
        self._gauss: float | None = None
        self._ahead = array("I")  # the words after the ones used, drawn ahead
        self._next = 0  # the first of them not used yet
        # Until the next park: a generator standing just after the read-ahead's words, so a long burst of
        # draws refills it without resuming (which costs as much as the words drawn so far).
        self._filler: _Counted | None = None

    def get(self) -> random.Random:
        """The stream, resumed if it was parked."""
        stream = self._random
        if stream is None:
            stream = self._random = self._resume()
            self._ahead, self._next = array("I"), 0  # drawn again, the same, as the generator goes on
            self._filler = None
        return stream

    def _resume(self) -> _Counted:
        stream = _Counted(self._seed)
        if self._words:
            random.Random.getrandbits(stream, 32 * self._words)  # exactly that many words
            stream.words = self._words
        stream.gauss_next = self._gauss  # type: ignore[attr-defined]  # random.Random's own attribute
        return stream

    def park(self) -> None:
        """Let go of the state until the next `get`."""
        stream = self._random
        if stream is not None:
            self._words = stream.words
            self._gauss = stream.gauss_next  # type: ignore[attr-defined]
            self._random = None
        self._filler = None  # the read-ahead's words stay: they are the stream's next ones

    @property
    def parked(self) -> bool:
        return self._random is None and self._filler is None

    def _word(self) -> int:
        if self._next >= len(self._ahead):
            stream = self._filler
            if stream is None:
                stream = self._filler = self._resume()  # at the words used: the read-ahead is used up
            words = random.Random.getrandbits(stream, 32 * _READ_AHEAD)  # word i in bits 32i..32i+31
            self._ahead = array("I", words.to_bytes(4 * _READ_AHEAD, "little"))
            if sys.byteorder != "little":
                self._ahead.byteswap()
            self._next = 0
        word: int = self._ahead[self._next]
        self._next += 1
        self._words += 1
        return word

    def random(self) -> float:
        """`random.Random.random()`: 53 bits from two words, as CPython's genrand_res53."""
        if self._random is not None:
            return self._random.random()
        ahead, i = self._ahead, self._next
        if i + 2 <= len(ahead):  # the common case, inline (jitter draws one per planned token)
            self._next = i + 2
            self._words += 2
            a, b = ahead[i] >> 5, ahead[i + 1] >> 6
        else:
            a, b = self._word() >> 5, self._word() >> 6
        return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0)

    def randoms(self, count: int) -> list[float]:
        """`count` draws of `random()`, in one call: the read-ahead's pairs of words in one comprehension (a
        call draws one per token it plans, in a burst per model turn)."""
        if self._random is not None:
            draw = self._random.random
            return [draw() for _ in range(count)]
        out: list[float] = []
        while len(out) < count:
            ahead, i = self._ahead, self._next
            pairs = min((len(ahead) - i) // 2, count - len(out))
            if pairs:
                end = i + 2 * pairs
                out += [((a >> 5) * 67108864.0 + (b >> 6)) * (1.0 / 9007199254740992.0)
                        for a, b in zip(ahead[i:end:2], ahead[i + 1:end:2], strict=True)]
                self._next = end
                self._words += 2 * pairs
            else:
                out.append(self.random())  # across a refill (or an odd word left): one at a time
        return out

    def getrandbits(self, k: int) -> int:
        """`random.Random.getrandbits(k)`: words least significant first, the last one's top bits."""
        if self._random is not None or k < 0:
            return self.get().getrandbits(k)
        value = shift = 0
        while k > 0:
            word = self._word()
            value |= (word >> (32 - k) if k < 32 else word) << shift
            shift += 32
            k -= 32
        return value

    def __repr__(self) -> str:
        return f"Stream({self._seed!r}, {'parked' if self.parked else 'in use'}, {self._words} words)"


_READ_AHEAD = 64  # words a parked stream draws ahead (256 bytes, against 2.5 kB of generator)


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
    stream of `random.Random(seed)`, the very stream `Faker.seed_instance(seed)` makes, and hands it to the
    shared Faker for the length of each call: the same values as a Faker of its own, call after call,
    whatever other calls draw in between. Between calls the stream is parked (a call draws a customer's name
    at its start, and rarely anything later).
    """

    __slots__ = ("_random",)

    def __init__(self, seed: int) -> None:
        self._random = Stream(seed)

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

    def __init__(self, stream: Stream, method: Callable[..., Any], name: str) -> None:
        self._random = stream
        self._method = method
        self.__name__ = name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        faker: Any = shared_faker()  # faker's stubs do not declare the `random` property
        with _lock:
            before = faker.random
            faker.random = self._random.get()
            try:
                return self._method(*args, **kwargs)
            finally:
                faker.random = before
                self._random.park()

    def __repr__(self) -> str:
        return f"<faker.{self.__name__}>"


class Fakes:
    """Every random value of one call, derived from `seed`."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self._ids = Stream(f"mockvapi:{seed}:ids")
        self._timing = Stream(f"mockvapi:{seed}:timing")
        self._faker: CallFaker | None = None

    @property
    def ids(self) -> random.Random:
        """The stream ids, phone numbers and tool call ids are drawn from."""
        return self._ids.get()

    @property
    def timing(self) -> random.Random:
        """The stream timing jitter is drawn from."""
        return self._timing.get()

    def park(self) -> None:
        """Let go of the streams' state until the next draw (the faker's parks after each of its draws): a
        call parks them while it waits for what it planned to happen."""
        for stream in (self._ids, self._timing):
            if not stream.parked:
                stream.park()

    @property
    def faker(self) -> CallFaker:
        """Made on first use, seeded with `seed` (its own stream, so when it is made changes nothing).

        One Faker serves every call (see CallFaker); importing faker takes ~50 ms (it scans its
        providers), which `import mockvapi` should not pay."""
        if self._faker is None:
            self._faker = CallFaker(self.seed)
        return self._faker

    def uuid(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def tool_call_id(self) -> str:
        ids = self.ids
        return "call_" + "".join(ids.choice(_ALNUM) for _ in range(24))

    def e164(self) -> str:
        """A US number in E.164 form in the 555-01xx fictional range, never a real subscriber."""
        ids = self.ids
        area = ids.randint(201, 989)
        return f"+1{area}55501{ids.randint(0, 99):02d}"

    def e164_phone_number(self) -> str:
        """A phone number as Vapi carries them (E.164, e.g. `+12125550147`), for templates: drawn from the
        seeded Faker stream (not the ids'), in the 555-01xx range reserved for fiction."""
        faker = self.faker
        return f"+1{faker.random_int(201, 989)}55501{faker.random_int(0, 99):02d}"

    def jitter(self, value: float, fraction: float) -> float:
        if fraction <= 0:
            return value
        low, high = 1 - fraction, 1 + fraction
        return value * (low + (high - low) * self._timing.random())  # random.Random.uniform, as it computes it

    def jitters(self, value: float, fraction: float, count: int) -> list[float]:
        """`[self.jitter(value, fraction) for _ in range(count)]`, the same values, drawn in one call."""
        if fraction <= 0:
            return [value] * count
        low, high = 1 - fraction, 1 + fraction
        return [value * (low + (high - low) * r) for r in self._timing.randoms(count)]

    def __repr__(self) -> str:
        return f"Fakes(seed={self.seed})"
