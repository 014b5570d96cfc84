"""Cells and tables of the bench's Markdown report."""

from __future__ import annotations

import math
from typing import Any


def num(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


def status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def get(median: dict[str, Any], workload: str, system: str, metric: str) -> float | None:
    value = median.get(workload, {}).get(system, {}).get(metric)
    return None if value is None else float(value)


def div(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]
