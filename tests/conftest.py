import pytest

import inferno


@pytest.fixture
def model_a() -> inferno.QueueModel:
    """The reference's examples/problem-data.json server (docs/queueing-model.md §9.3, input A)."""
    return inferno.QueueModel(alpha=12, beta=0.05, gamma=0.0005, in_tokens=128, out_tokens=512,
                              max_batch=48, max_queue=128)
