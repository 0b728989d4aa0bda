"""Run a suite against a Spark DataFrame in an ephemeral GX context (GX 1.x API)."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field
from functools import lru_cache

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")


@dataclass
class GateResult:
    success: bool                     # no *critical* expectation failed
    evaluated: int
    successful: int
    critical_failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def success_percent(self) -> float:
        return 100.0 * self.successful / self.evaluated if self.evaluated else 100.0


@lru_cache(maxsize=1)
def _context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_spark(name="andon_spark")
    asset = source.add_dataframe_asset(name="candidate")
    batch = asset.add_batch_definition_whole_dataframe("whole")
    return context, batch


def _describe(result) -> str:
    config = result.expectation_config
    kwargs = {k: v for k, v in config.kwargs.items() if k in ("column", "column_list", "value_set")}
    return f"{config.type}({kwargs})"


def validate(df, suite_name: str, expectations: list) -> GateResult:
    """Validate ``df`` against ``expectations``; only critical failures make the gate fail."""
    import great_expectations as gx

    context, batch = _context()
    name = f"{suite_name}-gate"
    try:
        context.suites.delete(suite_name)
    except Exception:  # noqa: BLE001 - absent on first use
        pass
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name))
    for expectation in expectations:
        suite.add_expectation(copy.deepcopy(expectation))
    try:
        context.validation_definitions.delete(name)
    except Exception:  # noqa: BLE001 - absent on first use
        pass
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=name, data=batch, suite=suite))
    # The gate reads only each expectation's success: BOOLEAN_ONLY spares GX the Spark jobs that
    # collect sample unexpected values for every column expectation (same outcomes, fewer jobs).
    run = definition.run(batch_parameters={"dataframe": df}, result_format="BOOLEAN_ONLY")
    critical, warnings = [], []
    successful = 0
    for result in run.results:
        if result.success:
            successful += 1
            continue
        severity = str(getattr(result.expectation_config, "severity", "critical")).lower()
        (warnings if "warning" in severity or "info" in severity else critical).append(_describe(result))
    return GateResult(success=not critical, evaluated=len(run.results), successful=successful,
                      critical_failures=critical, warnings=warnings)
