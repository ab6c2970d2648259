"""Public names that load on first use, so `import lab` and `import lab.workbench` stay light (no torch, OpenCV,
pandas or matplotlib until a name needs them)."""
from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, tuple[str, str | None]],
                 namespace: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level `__getattr__` and `__dir__` of `package`, whose public names are `exports`: name ->
    (module that defines it, attribute there; None: the module itself). A name loaded once is stored in
    `namespace` (the package's globals), so later look-ups skip `__getattr__`."""

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module '{package}' has no attribute '{name}'")
        module, attribute = exports[name]
        loaded = importlib.import_module(module)
        value = loaded if attribute is None else getattr(loaded, attribute)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
