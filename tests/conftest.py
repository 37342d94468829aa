import pytest

from hosts.drivers.memory import MemoryHostDriver
from scheduler import router


@pytest.fixture(autouse=True)
def _fresh_memory_drivers():
    MemoryHostDriver.reset()
    router.memory_router["config"] = None
    yield
    MemoryHostDriver.reset()
