"""WSGI entry point (pages only: live updates need the ASGI server)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "goknut.settings")
application = get_wsgi_application()
