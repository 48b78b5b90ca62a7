"""Local AWS emulator for the CDK app: moto's server with the fixes our templates need.

``python -m tools.local_aws start`` runs it in the background; ``stop``, ``status``, ``leftovers``
and ``fixes`` do what they say. See ``patches`` for what moto lacks and how each fix helps.
"""
