"""Reading ``alembic.ini`` the way Alembic does.

The ``[alembic]`` section gives ``script_location`` (a path, ``%(here)s``-relative, or
``package:dir``), ``sqlalchemy.url`` (a ``+driver`` suffix is fine: ormkit ignores it),
``version_locations`` (split by ``path_separator``, or the legacy
``version_path_separator``, or spaces/commas), ``file_template``,
``truncate_slug_length``, ``timezone``, ``recursive_version_locations`` and
``prepend_sys_path``. ``%(here)s`` is the directory of the ini file. A
``[tool.alembic]`` table in a ``pyproject.toml`` next to it fills in what the ini file
does not say, as in Alembic 1.16+.
"""

from __future__ import annotations

import configparser
import importlib.util
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["PLACEHOLDER_URL", "AlembicConfig", "ConfigError"]

#: The URL ``alembic init`` writes; it means "not configured".
PLACEHOLDER_URL = "driver://user:pass@localhost/dbname"

DEFAULT_FILE_TEMPLATE = "%(rev)s_%(slug)s"


class ConfigError(Exception):
    """The configuration is missing or wrong (a user error, shown in one line)."""


def _bool(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


class AlembicConfig:
    """An ``alembic.ini`` file (or just a script directory, with no file)."""

    def __init__(
        self,
        file: str | os.PathLike[str] | None = None,
        *,
        ini_section: str = "alembic",
        script_location: str | os.PathLike[str] | None = None,
        url: str | None = None,
    ) -> None:
        self.ini_section = ini_section
        self.config_file_name: Path | None = Path(file).resolve() if file else None
        here = self.config_file_name.parent if self.config_file_name else Path.cwd()
        self.here = here
        self.parser = configparser.ConfigParser(defaults={"here": str(here)})
        if self.config_file_name is not None:
            if not self.config_file_name.is_file():
                raise ConfigError(f"no config file {str(file)!r} (run 'ormkit migrate init')")
            try:
                with open(self.config_file_name, encoding="utf-8") as fh:
                    self.parser.read_file(fh)
            except configparser.Error as exc:
                msg = str(exc).splitlines()[0]
                raise ConfigError(f"{self.config_file_name.name}: {msg}") from None
        if not self.parser.has_section(ini_section):
            self.parser.add_section(ini_section)
        self._pyproject = self._read_pyproject()
        if script_location is not None:
            self.set_main_option("script_location", str(script_location))
        if url is not None:
            self.set_main_option("sqlalchemy.url", url)

    def _read_pyproject(self) -> dict[str, Any]:
        path = self.here / "pyproject.toml"
        if not path.is_file():
            return {}
        import tomllib

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            return {}
        section = data.get("tool", {}).get("alembic", {})
        return section if isinstance(section, dict) else {}

    # -- raw options ----------------------------------------------------------------------

    def get_main_option(self, name: str, default: str | None = None) -> str | None:
        """An option of the ``[alembic]`` section (interpolated), else ``[tool.alembic]``."""
        try:
            if self.parser.has_option(self.ini_section, name):
                return self.parser.get(self.ini_section, name)
        except configparser.Error as exc:
            raise ConfigError(f"alembic.ini option {name}: {str(exc).splitlines()[0]}") from None
        value = self._pyproject.get(name)
        if value is None:
            return default
        if isinstance(value, list):
            return "\n".join(str(v).replace("%(here)s", str(self.here)) for v in value)
        return str(value).replace("%(here)s", str(self.here))

    def set_main_option(self, name: str, value: str) -> None:
        """Sets an option (``%`` is escaped)."""
        self.parser.set(self.ini_section, name, value.replace("%", "%%"))

    def get_section(self, name: str) -> dict[str, str]:
        """Every option of a section."""
        if not self.parser.has_section(name):
            return {}
        return {k: v for k, v in self.parser.items(name) if k != "here"}

    # -- interpreted options ---------------------------------------------------------------

    @property
    def script_location(self) -> Path:
        """The migration directory (env.py, script.py.mako, versions/)."""
        raw = self.get_main_option("script_location")
        if not raw:
            raise ConfigError(
                "no script_location in the [alembic] section of "
                f"{self.config_file_name or 'the configuration'}"
            )
        return self._resolve_location(raw.strip())

    def _resolve_location(self, raw: str) -> Path:
        if ":" in raw and not re.match(r"^[A-Za-z]:[\\/]", raw) and not raw.startswith("/"):
            package, _, sub = raw.partition(":")
            spec = importlib.util.find_spec(package)
            if spec is None or not spec.submodule_search_locations:
                raise ConfigError(f"script_location {raw!r}: no package {package!r}")
            return Path(next(iter(spec.submodule_search_locations))) / sub
        path = Path(raw)
        if not path.is_absolute():
            path = self.here / path if self.config_file_name else Path.cwd() / path
        return path.resolve()

    @property
    def path_separator(self) -> str | None:
        """The separator of path lists, or None for the legacy space/comma splitting."""
        sep = self.get_main_option("path_separator")
        if sep is None:
            legacy = self.get_main_option("version_path_separator")
            if legacy is None:
                return None
            sep = legacy
        sep = sep.strip()
        return {"os": os.pathsep, "space": " ", "newline": "\n", ";": ";", ":": ":"}.get(sep, sep)

    def _split_paths(self, value: str) -> list[str]:
        sep = self.path_separator
        if sep is None:
            parts = re.split(r"[,\s]+", value)
        elif sep == " ":
            parts = value.split()
        else:
            parts = value.split(sep)
        return [p.strip() for p in parts if p.strip()]

    @property
    def version_locations(self) -> list[Path]:
        """Directories holding revision files (default ``<script_location>/versions``)."""
        raw = self.get_main_option("version_locations")
        if not raw:
            return [self.script_location / "versions"]
        return [self._resolve_location(p) for p in self._split_paths(raw)]

    @property
    def prepend_sys_path(self) -> list[Path]:
        """Paths to put on ``sys.path`` before importing models."""
        raw = self.get_main_option("prepend_sys_path")
        if not raw:
            return []
        sep = self.path_separator
        parts = re.split(r"[,\s:]+", raw) if sep is None else self._split_paths(raw)
        return [(self.here / p).resolve() for p in parts if p]

    @property
    def recursive_version_locations(self) -> bool:
        """True when revision files may sit in subdirectories."""
        return _bool(self.get_main_option("recursive_version_locations"))

    @property
    def file_template(self) -> str:
        """The revision file name template (``%(rev)s_%(slug)s``)."""
        return self.get_main_option("file_template") or DEFAULT_FILE_TEMPLATE

    @property
    def truncate_slug_length(self) -> int:
        """Longest slug in a file name (40)."""
        raw = self.get_main_option("truncate_slug_length")
        try:
            return int(raw) if raw else 40
        except ValueError:
            raise ConfigError(f"truncate_slug_length must be a number, not {raw!r}") from None

    @property
    def timezone(self) -> str | None:
        """The zone for dates in new revision files (local time when unset)."""
        return self.get_main_option("timezone") or None

    @property
    def output_encoding(self) -> str:
        """Encoding of new revision files."""
        return self.get_main_option("output_encoding") or "utf-8"

    @property
    def url(self) -> str | None:
        """``sqlalchemy.url``, or None when unset or still Alembic's placeholder."""
        value = self.get_main_option("sqlalchemy.url")
        if not value or value.strip() == PLACEHOLDER_URL:
            return None
        return value.strip()

    def __repr__(self) -> str:
        return f"<AlembicConfig {self.config_file_name or self.here}>"
