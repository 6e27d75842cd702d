"""The stack's imports as long-lived objects: frozen after the block, their garbage freed."""

import gc
import weakref

import pytest

from pipeline.run.collector import long_lived_imports

pytestmark = pytest.mark.unit


class Node:
    """An object that can sit in a reference cycle, which only the cyclic collector frees."""

    def __init__(self):
        self.other = None


@pytest.fixture(autouse=True)
def unfrozen():
    yield
    gc.unfreeze()
    gc.enable()


def test_what_the_block_keeps_is_frozen_and_its_cycles_are_freed():
    frozen_before = gc.get_freeze_count()
    with long_lived_imports():
        assert not gc.isenabled()
        kept = [Node() for _ in range(1000)]
        garbage = Node()
        garbage.other = Node()
        garbage.other.other = garbage
        freed = weakref.ref(garbage)
        del garbage

    assert freed() is None  # frozen garbage would never be freed
    assert gc.get_freeze_count() >= frozen_before + len(kept)
    in_a_generation = {id(o) for o in gc.get_objects()}  # every object a later pass walks
    assert not any(id(node) in in_a_generation for node in kept)
    assert gc.isenabled()


def test_the_collector_is_on_again_after_an_error():
    with pytest.raises(ImportError), long_lived_imports():
        raise ImportError("no module named nowhere")

    assert gc.isenabled()


def test_a_collector_switched_off_before_stays_off():
    gc.disable()
    with long_lived_imports():
        pass

    assert not gc.isenabled()
