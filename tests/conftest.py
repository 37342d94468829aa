import shutil

import pytest
from django.conf import settings

from hosts.drivers.memory import MemoryHostDriver
from hosts.services import host_register_local
from scheduler import router
from scheduler.logs import log_collector_reset


@pytest.fixture(autouse=True)
def _fresh_memory_drivers():
    MemoryHostDriver.reset()
    router.MemoryRouter.table = None
    router.MemoryRouter.requests = {}
    router.router_marks_forget()  # job ids repeat from one test to the next
    yield
    MemoryHostDriver.reset()
    log_collector_reset()  # fake containers' ids repeat from one test to the next
    shutil.rmtree(settings.DATA_DIR / "logs", ignore_errors=True)


@pytest.fixture
def driver():
    """The in-memory driver of the host `local`, registered."""
    host_register_local()
    return MemoryHostDriver.for_host("local")
