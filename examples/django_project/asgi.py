"""Django project ASGI entry point with the gateway as middleware around it.

    DJANGO_SETTINGS_MODULE=mysite.settings ROTATOR_CONFIG=examples/providers.yaml \
        uvicorn examples.django_project.asgi:application

Every request under /llm goes to the gateway; everything else reaches Django untouched.
"""

from __future__ import annotations

from django.core.asgi import get_asgi_application

from asgi_rotator import ProtocolRouter

application = ProtocolRouter(get_asgi_application(), prefix="/llm")
