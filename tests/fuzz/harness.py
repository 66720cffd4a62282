"""Fuzz harness: hypothesis feeds hostile input to a handler; only its refusals may escape.

A handler is anything that takes untrusted input. Adding one (central's collector message
handler, the agent's command handler, the provisioning inventory parser, ...) is one file,
``tests/fuzz/test_fuzz_<name>.py``::

    from tests.fuzz import strategies as fst
    from tests.fuzz.harness import Handler, fuzz_test

    def _accept(case: fst.Case) -> object:           # run the handler on one input
        return INGEST.accept(case.topic, case.payload, received_ms=0)

    def _check(case: fst.Case, result: object) -> None:   # what must hold if it was accepted
        ...

    HANDLER = Handler("collector.accept", _accept, refusals=(), check=_check)
    test_raw_bytes = fuzz_test(HANDLER, "raw_bytes", fst.raw_bytes)
    test_mutated = fuzz_test(HANDLER, "mutated", fst.mutated_messages())

``refusals`` are the exception types that mean "input refused" (for the codec: CodecError);
anything else the handler raises is a crash and fails the test, shrunk to a small example.
Every test runs KOTANET_FUZZ_EXAMPLES examples (default 200: ``make test`` stays fast and is
derandomised, so it cannot flake); ``make fuzz`` runs tests/fuzz/run.py, which sets 100,000,
randomises, and prints the count per handler from COUNTS.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES_ENV = "KOTANET_FUZZ_EXAMPLES"
RANDOM_ENV = "KOTANET_FUZZ_RANDOM"
DEFAULT_EXAMPLES = 200
#: handler name -> test label -> inputs run (read by tests/fuzz/conftest.py for the report)
COUNTS: dict[str, Counter[str]] = {}


def examples() -> int:
    """Examples per fuzz test: KOTANET_FUZZ_EXAMPLES, else the bounded default."""
    return int(os.environ.get(EXAMPLES_ENV, DEFAULT_EXAMPLES))


def fuzz_settings() -> settings:
    """One profile for every fuzz test (no example database: nothing written to the tree)."""
    return settings(max_examples=examples(), deadline=None, database=None,
                    derandomize=os.environ.get(RANDOM_ENV) != "1",
                    suppress_health_check=list(HealthCheck))


@dataclass
class Handler:
    """One handler under fuzz: how to call it, what counts as refusing, what must hold."""

    name: str
    call: Callable[[Any], Any]
    refusals: tuple[type[BaseException], ...] = ()
    check: Callable[[Any, Any], None] | None = None

    def run(self, label: str, case: Any) -> Any:
        """Call the handler once: a refusal is fine, any other exception propagates."""
        COUNTS.setdefault(self.name, Counter())[label] += 1
        try:
            result = self.call(case)
        except self.refusals:
            return None
        if self.check is not None:
            self.check(case, result)
        return result


def fuzz_test(handler: Handler, label: str, strategy: st.SearchStrategy[Any]) -> Callable[..., None]:
    """A pytest test that runs ``handler`` on examples drawn from ``strategy``."""

    @fuzz_settings()
    @given(strategy)
    def test(case: Any) -> None:
        handler.run(label, case)

    test.__name__ = f"test_fuzz_{handler.name.replace('.', '_')}_{label}"
    test.__doc__ = f"{handler.name} on {label}: raises only {handler.refusals or 'nothing'}."
    return test
