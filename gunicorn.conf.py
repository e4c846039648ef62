"""``gunicorn -c gunicorn.conf.py``: the settings live in the package so that
the installed ``registry serve`` command uses the very same ones."""

from registry_app.gunicorn_settings import *  # noqa: F401,F403
