"""A parsed, validated configuration file: defaults, named configs and instances per kind.

The shape follows Resilience4j's ``configs`` and ``instances``: ``configs.default``
applies to every instance of a kind, other configs are shared bases, and an instance
names its ``base``. Plain keys directly under a kind's table are shorthand for
``configs.default``.

>>> doc = ConfigDocument.parse('''
... [circuit_breaker.configs.default]
... failure_threshold = 5
... [circuit_breaker.configs.strict]
... failure_threshold = 2
... [circuit_breaker.instances.payments]
... base = "strict"
... reset_timeout = 10.0
... [cache]
... memory_size = 500
... ''')
>>> doc.resolve("circuit_breaker", "payments")
{'failure_threshold': 2, 'reset_timeout': 10.0}
>>> doc.resolve("cache", "anything")
{'memory_cache_size': 500}
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, final

from ..errors import ConfigError
from ._kinds import KINDS

__all__ = ["ConfigDocument", "KindTable"]

_Values = Mapping[str, Any]


@final
@dataclass(frozen=True, slots=True)
class KindTable:
    """The ``configs`` (``default`` included) and ``instances`` of one kind."""

    configs: Mapping[str, _Values]
    instances: Mapping[str, _Values]


def _table(value: object, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(where, "a table", value)
    return value


def _split(kind: str, raw: object) -> KindTable:
    body = _table(raw, kind)
    configs = {
        name: _table(values, f"{kind}.configs.{name}")
        for name, values in _table(body.get("configs", {}), f"{kind}.configs").items()
    }
    instances = {
        name: _table(values, f"{kind}.instances.{name}")
        for name, values in _table(body.get("instances", {}), f"{kind}.instances").items()
    }
    shorthand = {k: v for k, v in body.items() if k not in ("configs", "instances")}
    if shorthand:
        default = configs.get("default", {})
        for key in sorted(set(shorthand) & set(default)):
            raise ConfigError(
                f"{kind}.{key}", f"set once (also in {kind}.configs.default)", shorthand[key]
            )
        configs["default"] = {**default, **shorthand}
    return KindTable(configs, instances)


@final
@dataclass(frozen=True, slots=True)
class ConfigDocument:
    """One configuration file, parsed and checked; :meth:`resolve` gives an instance's values."""

    kinds: Mapping[str, KindTable]
    path: str | None = None

    @classmethod
    def parse(cls, text: str, path: str | None = None) -> ConfigDocument:
        """Parse TOML ``text`` and check every config and instance in it.

        Raises:
            ConfigError: invalid TOML, an unknown section or key, a missing or circular
                ``base``, or a value its class refuses; the parameter is the dotted key.
        """
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(path or "configuration", "valid TOML", str(error)) from None
        kinds: dict[str, KindTable] = {}
        for kind, raw in data.items():
            if kind not in KINDS:
                raise ConfigError("section", f"one of {', '.join(sorted(KINDS))}", kind)
            kinds[kind] = _split(kind, raw)
        document = cls(kinds, path)
        document._check()
        return document

    def _chain(self, kind: str, values: _Values, where: str) -> list[_Values]:
        table = self.kinds[kind]
        chain = [values]
        seen = {where}
        while "base" in chain[-1]:
            base = chain[-1]["base"]
            if not isinstance(base, str) or base not in table.configs:
                known = ", ".join(sorted(table.configs)) or "none defined"
                raise ConfigError(f"{where}.base", f"the name of a {kind} config ({known})", base)
            if base in seen:
                raise ConfigError(f"{where}.base", "free of cycles", base)
            seen.add(base)
            where = f"{kind}.configs.{base}"
            chain.append(table.configs[base])
        return chain

    def _layers(self, kind: str, name: str | None) -> tuple[dict[str, Any], str]:
        table = self.kinds.get(kind)
        if table is None:
            return {}, kind
        layers: list[_Values] = [table.configs.get("default", {})]
        where = f"{kind}.configs.default"
        if name is not None and name in table.instances:
            where = f"{kind}.instances.{name}"
            layers.extend(reversed(self._chain(kind, table.instances[name], where)))
        elif name is not None and name.startswith("configs.") and name[8:] in table.configs:
            where = f"{kind}.{name}"  # a shared config checked on its own
            layers.extend(reversed(self._chain(kind, table.configs[name[8:]], where)))
        merged: dict[str, Any] = {}
        for layer in layers:
            merged.update(layer)
        merged.pop("base", None)
        spec = KINDS[kind]
        return {spec.param(k): v for k, v in merged.items()}, where

    def resolve(self, kind: str, name: str | None = None) -> dict[str, Any]:
        """Return the file's values for instance ``name`` of ``kind`` (defaults if unnamed).

        Raises:
            ConfigError: a ``base`` names no config or forms a cycle.
        """
        return self._layers(kind, name)[0]

    def names(self, kind: str) -> tuple[str, ...]:
        """Return the instance names the file configures for ``kind``."""
        table = self.kinds.get(kind)
        return () if table is None else tuple(sorted(table.instances))

    def _check(self) -> None:
        from ._env import env_override

        for kind, table in self.kinds.items():
            spec = KINDS[kind]
            targets: list[str | None] = [None]
            targets += [f"configs.{config}" for config in table.configs if config != "default"]
            targets += list(table.instances)
            for name in targets:
                values, where = self._layers(kind, name)
                for param, key in spec.env.items():
                    found, value = env_override(key)
                    if found:
                        values[param] = value
                if kind == "rate_limiter" and "rate" not in values:
                    continue  # a rate is required only when an instance is built
                try:
                    spec.validate(kind if name is None else name.replace(".", "_"), values)
                except ConfigError as error:
                    raise ConfigError(
                        f"{where}.{error.parameter}", error.rule, error.value
                    ) from None
