"""
NAME: logging_util.py
DESCRIPTION: get_logger(name): a logger that writes human-readable lines to stderr, never
  stdout (stdout carries the step's JSON line). RECIPES_DEBUG=1 in the environment logs DEBUG.
LIMITATIONS:
  - One stderr handler per logger name; the runner copies stderr into Logs/<run_id>/<idx>_<step>.log.
"""
import logging
import os
import sys

_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def get_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(getattr(handler, "_scriptlet_stderr", False) for handler in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_FORMAT))
        handler._scriptlet_stderr = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(logging.DEBUG if os.environ.get("RECIPES_DEBUG") == "1" else logging.INFO)
    return logger
