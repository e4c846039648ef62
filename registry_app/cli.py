"""``registry serve [CONFIG]``: run the registry under gunicorn, like Distribution's
``registry serve config.yml``."""

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="registry")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the registry API")
    serve.add_argument("config", nargs="?", help="config.yml (else $REGISTRY_CONFIGURATION_PATH)")
    args = parser.parse_args(argv)
    if args.config:
        os.environ["REGISTRY_CONFIGURATION_PATH"] = os.path.abspath(args.config)
    from gunicorn.app.wsgiapp import run

    sys.argv = ["registry", "-c", "python:registry_app.gunicorn_settings"]
    run()
