"""florenz: multilingual encoder-decoder vision-language models (Florenz, arXiv 2503.09443)."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"


def load(path: str, device: str | None = None):
    """Load a florenz checkpoint directory for captioning and translation (see florenz.inference)."""
    from florenz.inference.api import load as _load

    return _load(path, device=device)


class _RegisterAfterTransformers(importlib.abc.MetaPathFinder):
    """Imports florenz.models.florenz (which registers the Auto classes) right after `transformers` is imported:
    the Auto classes know florenz after `import florenz`, without importing transformers (and torch) at
    `import florenz`, so `florenz --help` stays light."""

    def find_spec(self, name, path=None, target=None):
        if name != "transformers":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_then_register(module):
            exec_module(module)
            if not any(getattr(getattr(m, "__spec__", None), "_initializing", False)
                       for n, m in list(sys.modules.items()) if n.startswith("florenz.")):
                import florenz.models.florenz  # noqa: F401  (registers on import)
            # else a florenz module is importing transformers: florenz/models/florenz.py registers once defined

        spec.loader.exec_module = exec_then_register
        return spec


if "transformers" in sys.modules:
    import florenz.models.florenz  # noqa: F401  (registers on import)
elif not any(isinstance(f, _RegisterAfterTransformers) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterTransformers())
