"""Configuration: ``REBELLION_*`` variables and TOML files with named instances, live.

Every parameter can be given in code. Left out, it comes from a ``REBELLION_*``
variable, then from the loaded TOML file (``load_config(path)`` or ``REBELLION_CONFIG``),
then from the built-in default. A file has defaults, shared configs and named instances
per kind; ``watch=True`` re-applies edits to live instances without losing their state.

>>> import os, tempfile
>>> from rebellion.config import get_circuit_breaker, load_config, unload_config
>>> path = os.path.join(tempfile.mkdtemp(), "rebellion.toml")
>>> with open(path, "w") as f:
...     _ = f.write('[circuit_breaker.instances.payments]\\nfailure_threshold = 2\\n')
>>> loaded = load_config(path)
>>> get_circuit_breaker("payments").failure_threshold
2
>>> unload_config()
"""

from ._current import current_config, load_config, reload_config, unload_config
from ._document import ConfigDocument
from ._env import (
    PREFIX,
    Setting,
    describe_settings,
    env_override,
    register_setting,
    setting,
    validate_environment,
)
from ._helpers import (
    config_settings,
    get_adaptive_limiter,
    get_alert_manager,
    get_backpressure_handler,
    get_bulkhead,
    get_cache,
    get_chaos,
    get_circuit_breaker,
    get_metric_transformer,
    get_rate_limiter,
    get_request_queue,
    get_retry_policy,
    get_timeout,
)
from ._kinds import KINDS, Kind
from ._live import ConfigRejected, ConfigReloaded, LoadedConfig

__all__ = [
    "KINDS",
    "PREFIX",
    "ConfigDocument",
    "ConfigRejected",
    "ConfigReloaded",
    "Kind",
    "LoadedConfig",
    "Setting",
    "config_settings",
    "current_config",
    "describe_settings",
    "env_override",
    "get_adaptive_limiter",
    "get_alert_manager",
    "get_backpressure_handler",
    "get_bulkhead",
    "get_cache",
    "get_chaos",
    "get_circuit_breaker",
    "get_metric_transformer",
    "get_rate_limiter",
    "get_request_queue",
    "get_retry_policy",
    "get_timeout",
    "load_config",
    "register_setting",
    "reload_config",
    "setting",
    "unload_config",
    "validate_environment",
]
