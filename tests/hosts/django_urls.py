"""URLconf of the Django host used in the framework tests."""

from __future__ import annotations

from django.http import JsonResponse
from django.urls import path


def home(request):  # type: ignore[no-untyped-def]
    return JsonResponse({"host": "django"})


urlpatterns = [path("", home)]
