from __future__ import annotations

import asgi_rotator


def test_all_is_exactly_the_public_names():
    public = {name for name in dir(asgi_rotator) if not name.startswith("_")} - {"annotations"}
    modules = {name for name in public if type(getattr(asgi_rotator, name)).__name__ == "module"}
    assert set(asgi_rotator.__all__) == (public - modules) | {"__version__"}
    assert asgi_rotator.__all__ == sorted(asgi_rotator.__all__, key=lambda n: (n.startswith("_"), n))


def test_the_design_contract_names_exist():
    for name in (
        "RotatorASGI",
        "RotatorConfig",
        "ConfigError",
        "ProtocolRouter",
        "TracingMiddleware",
        "StreamingGuard",
        "load_config",
    ):
        assert hasattr(asgi_rotator, name), name
    from asgi_rotator.testing import FakeUpstream  # noqa: F401


def test_public_callables_have_docstrings():
    for name in asgi_rotator.__all__:
        value = getattr(asgi_rotator, name)
        if callable(value):
            assert (value.__doc__ or "").strip(), name
