"""The command line: options that are refused before anything starts."""

from __future__ import annotations

import pytest

from gateway.ops.cli import main


@pytest.mark.parametrize("workers", ["2", "8"])
def test_more_than_one_worker_is_refused_with_the_memory_store(
    workers: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--agent", "a=127.0.0.1:50051", "--workers", workers])
    assert code == 2
    error = capsys.readouterr().err
    assert "listen.workers" in error
    assert "shared store (store: redis://" in error


def test_zero_workers_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--agent", "a=127.0.0.1:50051", "--workers", "0"]) == 2
    assert "listen.workers" in capsys.readouterr().err
