"""AlertSeverity: ordering and coercion shared with the alerting engine."""

from __future__ import annotations

import pytest

from rebellion.errors import ConfigError
from rebellion.metrics.severity import AlertSeverity


def test_severities_are_ordered_from_info_to_critical() -> None:
    ordered = [
        AlertSeverity.INFO,
        AlertSeverity.WARNING,
        AlertSeverity.ERROR,
        AlertSeverity.CRITICAL,
    ]
    shuffled = [ordered[2], ordered[0], ordered[3], ordered[1]]
    assert sorted(shuffled) == ordered
    assert AlertSeverity.ERROR >= AlertSeverity.ERROR
    assert AlertSeverity.WARNING < AlertSeverity.ERROR
    assert AlertSeverity.CRITICAL > AlertSeverity.INFO
    assert AlertSeverity.INFO <= AlertSeverity.INFO


def test_coerce_accepts_names_and_values_in_any_case() -> None:
    assert AlertSeverity.coerce("ERROR") is AlertSeverity.ERROR
    assert AlertSeverity.coerce(" warning ") is AlertSeverity.WARNING
    assert AlertSeverity.coerce(AlertSeverity.INFO) is AlertSeverity.INFO


@pytest.mark.parametrize("bad", ["fatal", 3, None])
def test_coerce_rejects_unknown_values_naming_the_parameter(bad: object) -> None:
    with pytest.raises(ConfigError, match="min_severity"):
        AlertSeverity.coerce(bad, "min_severity")


def test_comparing_with_another_type_is_not_supported() -> None:
    with pytest.raises(TypeError):
        _ = AlertSeverity.INFO < 1
