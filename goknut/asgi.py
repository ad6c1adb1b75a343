"""ASGI entry point: `daphne goknut.asgi:application`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "goknut.settings")
django_application = get_asgi_application()

from live import daphne_tuning  # noqa: E402  (needs Django set up first)
from live.routing import build_application  # noqa: E402

daphne_tuning.apply()
application = build_application(django_application)
