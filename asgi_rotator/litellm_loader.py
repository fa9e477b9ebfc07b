"""LiteLLM, loaded once when the app is built and never during a request.

litellm is optional (``pip install 'asgi-rotator[litellm]'``) and large: importing it takes seconds, so it is
imported when a :class:`~asgi_rotator.RotatorASGI` whose config has a ``protocol: litellm`` provider is
constructed, and every later use (LiteLLM calls, its price table) reads the loaded module. Its price map would
be fetched from the network on import; the gateway asks for the copy shipped in the package instead
(``LITELLM_LOCAL_MODEL_COST_MAP``), so startup never stalls offline. (A host that imports litellm itself
before building the app decides that for itself.)
"""

from __future__ import annotations

import importlib.util
import os
from types import ModuleType

from .errors import MissingDependency

_loaded: list[ModuleType] = []


def load_litellm() -> ModuleType:
    """Import litellm (once per process) and return it.

    Raises:
        MissingDependency: it is not installed; the message names the extra to install.
    """
    if _loaded:
        return _loaded[0]
    if importlib.util.find_spec("litellm") is None:
        raise MissingDependency("litellm", extra="litellm")
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True  # no banners on stdout for models it cannot price
    _loaded.append(litellm)
    return _loaded[-1]


def loaded_litellm() -> ModuleType | None:
    """litellm if :func:`load_litellm` imported it, else None; it never imports anything itself."""
    return _loaded[0] if _loaded else None
