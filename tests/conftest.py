"""For every test module: the official SDK (`vapi-server-sdk`) builds its models when first used.

At import the SDK defines some 1,600 pydantic models and rebuilds the ones with forward references
(`update_forward_refs`, 1,500 calls, each re-walking the huge unions of the assistant and call types):
about 20 s of CPU, over a minute on a busy machine, before the first request of a test that uses it.
With pydantic's `defer_build` and those eager rebuilds skipped, each model is built the first time it
validates or serialises: the same schema, the same checks, only for the models a test touches
(tests/examples/test_official_sdk.py: ~3 s of CPU instead of ~22 s).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from vapi.core import pydantic_utilities

from mockvapi.models import encoding


def _defer_sdk_model_builds() -> None:
    if not pydantic_utilities.IS_PYDANTIC_V2:
        return
    pydantic_utilities.UniversalBaseModel.model_config["defer_build"] = True

    def update_forward_refs(model: type[Any], **localns: Any) -> None:
        """Resolved when the model is first built (its module's names are all defined by then)."""

    pydantic_utilities.update_forward_refs = update_forward_refs


_defer_sdk_model_builds()


# Every test checks what the engine's encoders trust (models.encoding, lever 120): that each in-place change to
# a call's steady objects (`call`, `assistant`, ...) is announced with `steady_changed`. An announced encoder
# then also compares them with its snapshots, and a change nobody announced fails the test that made it.
encoding.CHECK_ANNOUNCED = True


@pytest.fixture(autouse=True)
def _steady_changes_are_announced() -> Iterator[None]:
    encoding.unannounced.clear()
    yield
    missed, encoding.unannounced[:] = list(encoding.unannounced), []
    assert not missed, f"steady objects changed in place with no steady_changed(): {missed}"
