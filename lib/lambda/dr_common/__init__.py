"""What every function of the kit shares, bundled into each package by lib/build/lambda_bundle.py.

One way to log and publish metrics (``observability``), read settings (``settings``), build AWS
clients (``clients``), answer CloudFormation (``cfn``) and reach PostgreSQL over TLS (``postgres``);
and the one exception for an event a function does not handle.
"""

from __future__ import annotations


class InvalidEvent(ValueError):
    """An event this function does not handle; the message says why. Logged and ignored, never
    raised out of a handler: a raise would only make Lambda retry it."""
