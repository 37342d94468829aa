"""The router's listener hand-over: the kernel setting that keeps a reload from resetting waiting connections."""

import logging

from scheduler import router


def test_the_accept_queue_hand_over_is_turned_on(tmp_path, monkeypatch):
    setting = tmp_path / "tcp_migrate_req"
    setting.write_text("0\n")
    monkeypatch.setattr(router, "MIGRATE_ACCEPT_QUEUES", setting)
    assert router.accept_queues_migrate()
    assert setting.read_text() == "1\n"


def test_without_the_right_to_set_it_the_operator_is_told_how(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(router, "MIGRATE_ACCEPT_QUEUES", tmp_path / "missing" / "tcp_migrate_req")
    with caplog.at_level(logging.WARNING, logger="paas.router"):
        assert not router.accept_queues_migrate()
    assert "sysctl -w net.ipv4.tcp_migrate_req=1" in caplog.text
