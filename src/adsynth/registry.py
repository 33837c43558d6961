"""One generic registry, filled by a decorator (generators, recipes, models).

It is the one place where a name becomes an object: :meth:`Registry.register` fills it,
:meth:`Registry.create` builds from it and checks keyword names against :meth:`Registry.params`
(the constructor's keywords, followed through ``**kwargs`` to the base classes that receive them).

Example:
    >>> from adsynth.registry import Registry
    >>> SHAPES = Registry("shape")
    >>> @SHAPES.register("square")
    ... class Square:
    ...     pass
    >>> SHAPES.get("square") is Square
    True
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from adsynth.errors import ConfigError

T = TypeVar("T")


def unknown_name_error(kind: str, name: str, valid: list[str]) -> ConfigError:
    """The error of an unknown ``name`` among ``valid`` ones: the closest matches, then every name."""
    close = difflib.get_close_matches(str(name), list(valid), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ConfigError(f"unknown {kind} {name!r}{hint} (valid: {', '.join(sorted(valid))})")


class Registry(Generic[T]):
    """A name → object mapping with helpful errors.

    Args:
        kind: what is registered ("generator", "recipe", "model"), used in messages.
        param_word: what a keyword of the factory is called in messages ("parameter",
            "hyper-parameter").
        on_register: called as ``on_register(name, obj)`` when ``obj`` is registered (e.g. to set
            ``obj.name``).
    """

    def __init__(
        self,
        kind: str,
        param_word: str = "parameter",
        on_register: Callable[[str, T], None] | None = None,
    ) -> None:
        self.kind = kind
        self.param_word = param_word
        self._on_register = on_register
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; a duplicate name raises."""

        def deco(obj: T) -> T:
            self.add(name, obj)
            if self._on_register is not None:
                self._on_register(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._items[name] = obj

    def get(self, name: str) -> T:
        """Return the object registered as ``name``; unknown names raise with the closest matches."""
        try:
            return self._items[name]
        except KeyError:
            raise unknown_name_error(self.kind, name, list(self._items)) from None

    def params(self, name: str) -> dict[str, Any] | None:
        """Keyword parameters of ``name``'s factory with their defaults (None: no default).

        A class's ``__init__`` that takes ``**kwargs`` is followed to the base classes it forwards
        them to; None is returned when the chain ends in a factory that accepts any keyword.
        """
        return factory_params(self.get(name))

    def check_params(self, name: str, kwargs: dict[str, Any], where: str | None = None) -> None:
        """Raise :class:`ConfigError` naming the first keyword that ``name`` does not take."""
        accepted = self.params(name)
        if accepted is None:
            return
        bad = sorted(k for k in kwargs if k not in accepted)
        if bad:
            prefix = f"{where}: " if where else ""
            raise ConfigError(
                f"{prefix}{self.kind} {name!r} has no {self.param_word} {bad[0]!r} "
                f"(valid: {', '.join(sorted(accepted))})"
            )

    def create(self, name: str, **kwargs: Any) -> Any:
        """Build ``name`` from ``kwargs``: unknown keywords and the factory's own TypeError or
        ValueError become :class:`ConfigError` messages that name it."""
        factory = self.get(name)
        self.check_params(name, kwargs)
        try:
            return factory(**kwargs)  # type: ignore[operator]
        except ConfigError:
            raise
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{self.kind} {name!r}: {e}") from None

    def list(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style ``pattern``."""
        return sorted(n for n in self._items if fnmatch.fnmatch(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return sorted(self._items.items())


_LIBRARY_BASES = ("builtins", "albumentations", "torch")


def _named(fn: Any) -> tuple[dict[str, Any], bool]:
    params = inspect.signature(fn).parameters
    named = {
        k: (None if p.default is inspect.Parameter.empty else p.default)
        for k, p in params.items()
        if k != "self" and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return named, any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def factory_params(factory: Any) -> dict[str, Any] | None:
    """The keyword parameters of a factory (a class: its ``__init__`` along the ``**kwargs`` chain).

    A class may adjust the listing with a classmethod ``declared_params(params) -> params`` (per-family
    defaults that its base declares as None, options that the family does not take).

    Example:
        >>> class A:
        ...     def __init__(self, a=1, **kw): ...
        >>> class B(A):
        ...     def __init__(self, b=2, **kw): super().__init__(**kw)
        >>> factory_params(B)
        {'b': 2, 'a': 1}
    """
    if not inspect.isclass(factory):
        named, open_ = _named(factory)
        return None if open_ else named
    out: dict[str, Any] = {}
    declared = getattr(factory, "declared_params", None)
    for cls in factory.__mro__:
        init = cls.__dict__.get("__init__")
        if init is None:
            continue
        # A library base (albumentations, torch): its keywords are not user parameters.
        library = cls is not factory and (cls.__module__ or "").split(".")[0] in _LIBRARY_BASES
        if not library:
            named, open_ = _named(factory.__init__ if cls is factory else init)
            for k, v in named.items():
                out.setdefault(k, v)
        if library or not open_:
            return declared(out) if callable(declared) else out
    return None


def import_all(package: str, names: list[str], what: str) -> None:
    """Import ``package.<name>`` for every name so that each registers itself; any failure is raised
    as an ImportError naming ``what`` and the module (an adsynth error passes through unchanged)."""
    import importlib

    from adsynth.errors import AdsynthError

    for name in names:
        try:
            importlib.import_module(f"{package}.{name}")
        except AdsynthError:
            raise
        except Exception as e:
            raise ImportError(f"{what} {name!r} failed to import: {type(e).__name__}: {e}") from e
