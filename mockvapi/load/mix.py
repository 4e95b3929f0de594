"""The scenario mix of a load test and the seeds of its users: pure (no locust, no gevent).

`load_mix` loads the scenarios once per process and weighs them; each user draws from it with its
own `random.Random(user_seed(base, worker, user))`: the first draw picks a scenario, the next is the
call's seed, and so on for each call. So a run is reproducible, and a test can compute which calls a
given user of a given worker will play.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mockvapi.library import bundled_dir, resolve
from mockvapi.scenario.loader import LoadedScenario

__all__ = ["Mix", "load_mix", "next_call", "parse_weights", "user_seed"]


@dataclass(frozen=True)
class Mix:
    """The scenarios a user picks from, with their weights (same order)."""

    names: tuple[str, ...]
    scenarios: tuple[LoadedScenario, ...]
    weights: tuple[float, ...]

    def pick(self, rng: random.Random) -> tuple[str, LoadedScenario]:
        index = rng.choices(range(len(self.names)), weights=self.weights)[0]
        return self.names[index], self.scenarios[index]

    def __repr__(self) -> str:
        return "Mix(" + ", ".join(f"{n}={w:g}" for n, w in zip(self.names, self.weights, strict=True)) + ")"


def parse_weights(text: str | Mapping[str, float] | None) -> dict[str, float]:
    """``"a=2,b=0.5"`` (or a mapping) -> {"a": 2.0, "b": 0.5}; raises ValueError on a bad entry."""
    if text is None:
        return {}
    items: list[tuple[str, object]]
    if isinstance(text, Mapping):
        items = [(str(k), v) for k, v in text.items()]
    else:
        items = []
        for part in filter(None, (p.strip() for p in text.split(","))):
            name, sep, number = part.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"mockvapi: a weight looks like name=number, got {part!r}")
            items.append((name.strip(), number))
    out: dict[str, float] = {}
    for name, value in items:
        try:
            weight = float(value)  # type: ignore[arg-type]  # whatever it is, float() decides
        except (TypeError, ValueError):
            raise ValueError(f"mockvapi: weight of {name!r} is not a number: {value!r}") from None
        if not weight >= 0:
            raise ValueError(f"mockvapi: weight of {name!r} must be >= 0, got {value!r}")
        out[name] = weight
    return out


def _scenario_files(spec: str | Sequence[str | Path]) -> list[str | Path]:
    specs = [s.strip() for s in spec.split(",") if s.strip()] if isinstance(spec, str) else list(spec)
    files: list[str | Path] = []
    for item in specs:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            files.append(item)
    return files


def load_mix(spec: str | Sequence[str | Path] | None, weights: str | Mapping[str, float] | None = None) -> Mix:
    """Load the scenarios (see the module docstring) and weigh them; ScenarioError/ValueError if unusable."""
    key_spec = spec if spec is None or isinstance(spec, str) else tuple(str(s) for s in spec)
    key_weights = weights if weights is None or isinstance(weights, str) else tuple(sorted(weights.items()))
    return _load_mix(key_spec, key_weights)


@lru_cache(maxsize=16)
def _load_mix(spec: str | tuple[str, ...] | None, weights: str | tuple[tuple[str, float], ...] | None) -> Mix:
    files = _scenario_files(str(bundled_dir()) if spec is None else spec)
    if not files:
        raise ValueError(f"mockvapi: no scenario found in {spec!r}")
    loaded = [resolve(f) for f in files]
    names = [Path(str(f)).stem if Path(str(f)).suffix else str(f) for f in files]
    wanted = parse_weights(dict(weights) if isinstance(weights, tuple) else weights)
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise ValueError(f"mockvapi: weights name unknown scenarios {unknown} (known: {', '.join(names)})")
    chosen = [(n, s, wanted.get(n, 1.0)) for n, s in zip(names, loaded, strict=True)]
    chosen = [c for c in chosen if c[2] > 0]
    if not chosen:
        raise ValueError("mockvapi: every scenario has weight 0")
    return Mix(tuple(c[0] for c in chosen), tuple(c[1] for c in chosen), tuple(c[2] for c in chosen))


def user_seed(base: int, worker: int, index: int) -> int:
    """The seed of user `index` of worker `worker` (stable across runs, Python versions and machines)."""
    digest = hashlib.sha256(f"mockvapi-load:{base}:{worker}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def next_call(mix: Mix, rng: random.Random) -> tuple[str, LoadedScenario, int]:
    """A user's next call: (scenario name, scenario, call seed), drawn from its generator."""
    name, scenario = mix.pick(rng)
    return name, scenario, rng.getrandbits(32)
