"""One package per AWS service: its fixes to moto (``patches.py``) beside the engines that run it."""
