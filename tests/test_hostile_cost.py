"""bench/hostile_cost.py on its quick corpus: it runs, every payload ends in a tensor or a typed answer
inside prepare_request (none escapes, no child dies), and no payload raises the peak memory of the
process that reads it by more than the bound of docs/security.md. Its CPU figures are reported by the
bench (`python -m bench.hostile_cost`), not asserted here; the HTTP tests bound the workers' CPU."""

import pytest

from bench.hostile_corpus import corpus
from bench.hostile_cost import PEAK_GROWTH_MIB, measure, warm_up

pytestmark = pytest.mark.slow


def test_the_quick_corpus_is_read_within_the_memory_bound():
    warm_up()
    costs = [measure(payload) for payload in corpus(quick=True)]
    assert len(costs) >= 20
    for cost in costs:
        assert not cost.answer.startswith(("raised", "child died")), cost
        assert cost.peak_growth_mib < PEAK_GROWTH_MIB, cost
    print(
        "\n"
        + "\n".join(f"{c.name}: {c.answer}, {c.cpu_seconds:.3f} CPU s, +{c.peak_growth_mib:.1f} MiB" for c in costs)
    )
