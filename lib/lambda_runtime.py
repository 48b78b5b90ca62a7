"""The Lambda runtime and architecture of every function of the kit, defined once.

The function construct (lib/constructs/kit_function.py) deploys them and the bundler
(lib/build/lambda_bundle.py) installs wheels for them, so a package's dependencies always match the
Python and the processor it runs on.
"""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.X86_64
RUNTIME_PYTHON_VERSION = RUNTIME.name.removeprefix("python")  # "3.14": pip's --python-version
# pip's --platform for each Lambda architecture (Architecture.name -> manylinux wheel tag).
PIP_PLATFORM = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}[ARCHITECTURE.name]
