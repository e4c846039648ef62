"""WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``.

The configuration file is taken from ``REGISTRY_CONFIGURATION_PATH`` (or none:
the embedded defaults), overridden by ``REGISTRY_*`` environment variables.
"""

from registry_app import create_app
from registry_app.config import load_config

app = create_app(load_config())
