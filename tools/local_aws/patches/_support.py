"""Plumbing shared by the patch modules: the fix registry and CloudFormation model registration.

A *fix* is a small function that changes moto in place. Fixes register themselves with ``@fix(code)``
when their module is imported; ``apply_all`` (in ``__init__``) runs each one once. The code
(``R1``, ``V2``, ``Q4``, ``D20``, ...) names the fix in the tests, in ``--without`` and in the
``fixes`` listing; the letters are explained in ``patches/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from operator import attrgetter
from types import ModuleType
from typing import Any, ClassVar

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel

from .wraps import WRAP_ORDER

# A resource's template properties as parsed JSON: values of any shape, read like moto's own models do.
Properties = Any


@dataclass(frozen=True)
class Fix:
    """One registered fix: its code from the notes and the function that applies it."""

    code: str
    apply: Callable[[], None]

    @property
    def name(self) -> str:
        return self.apply.__name__

    @property
    def summary(self) -> str:
        """First paragraph of the fix's docstring (what moto lacks), on one line."""
        return " ".join((self.apply.__doc__ or "").strip().split("\n\n")[0].split())

    def run(self) -> None:
        """Apply the fix; ``install`` knows which fix wraps what while it runs."""
        _applying.append(self.code)
        try:
            self.apply()
        finally:
            _applying.pop()


REGISTRY: list[Fix] = []

# The code of the fix being applied (a stack: a fix is applied inside ``Fix.run``).
_applying: list[str] = []

# Every attribute a fix installed, by its dotted path, with the codes of the fixes that installed it
# in the order they did (the last one wraps the others).
INSTALLED: dict[str, list[str]] = {}


class WrapOrderError(RuntimeError):
    """A fix replaced an attribute another fix had replaced, in an order ``WRAP_ORDER`` does not state."""


def fix(code: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Register the decorated function as the fix with this code (applied later by apply_all)."""

    def register(function: Callable[[], None]) -> Callable[[], None]:
        taken = [known.name for known in REGISTRY if known.code == code]
        if taken:  # a code names one fix: in --without, in the tests and in the fixes listing
            raise ValueError(f"Fix code {code} is taken by {taken[0]}; give {function.__name__} a code of its own.")
        REGISTRY.append(Fix(code, function))
        return function

    return register


def attribute_path(owner: Any, name: str) -> str:
    """``moto.awslambda.models.LambdaFunction.update_configuration``: a class's or module's attribute."""
    if isinstance(owner, ModuleType):
        return f"{owner.__name__}.{name}"
    return f"{owner.__module__}.{owner.__qualname__}.{name}"


def install(owner: Any, name: str, value: Any) -> None:
    """Replace (or add) ``owner.name`` in a moto class or module: the one way fixes change moto.

    A fix may replace an attribute that an earlier fix replaced (and so wrap that fix's version) only
    when ``WRAP_ORDER`` lists both, the earlier one first: the order in which fixes wrap one another
    is stated there, never left to the order the patch modules happen to be applied in.
    """
    code = _applying[-1] if _applying else "-"
    path = attribute_path(owner, name)
    earlier = INSTALLED.setdefault(path, [])
    if earlier:
        stated = WRAP_ORDER.get(path, ())
        if code not in stated or any(
            previous not in stated or stated.index(previous) >= stated.index(code) for previous in earlier
        ):
            raise WrapOrderError(
                f"fix {code} replaces {path}, which {', '.join(earlier)} replaced before it; state the order "
                f"in tools/local_aws/patches/wraps.py (stated: {', '.join(stated) or 'none'})"
            )
    earlier.append(code)
    setattr(owner, name, value)


def register_model(logic: type, service: str) -> type[CloudFormationModel]:
    """Make ``logic`` a CloudFormation resource model that moto's template parser can find.

    moto finds models through ``CloudFormationModel.__subclasses__()`` (direct subclasses only) and
    caches the lookups; its model metaclass files each class under the service named by the second
    part of ``__module__``. So the model is built here, at apply time, as a direct subclass with a
    ``moto.<service>`` module name, and the parser's caches are cleared. Keeping the behaviour in a
    plain ``logic`` class means importing a patch module changes nothing until its fix is applied.
    """
    metaclass: Any = type(CloudFormationModel)
    model: type[CloudFormationModel] = metaclass(
        logic.__name__,
        (logic, CloudFormationModel),
        {"__module__": f"moto.{service}.models", "__doc__": logic.__doc__},
    )
    for cached in (parsing.get_model_list, parsing.get_model_map, parsing.get_name_type_map):
        cached.cache_clear()
    return model


class ModelLogic:
    """Defaults for the behaviour classes passed to ``register_model``.

    A subclass wraps the moto object it created (so the model stays a thin adapter), declares its
    ``Fn::GetAtt`` names in ``cfn_attributes`` as ``{attribute: dotted path on self}``, its resource
    type in ``cfn_type`` (and the property that names it in ``cfn_name_property``), and provides
    ``create`` (from the resource's properties), ``physical_resource_id`` (what ``Ref`` returns) and
    ``delete``.
    """

    cfn_type: ClassVar[str] = ""

    cfn_name_property: ClassVar[str] = ""
    cfn_attributes: ClassVar[dict[str, str]] = {}

    @classmethod
    def cloudformation_type(cls) -> str:
        return cls.cfn_type

    @classmethod
    def cloudformation_name_type(cls) -> str:
        return cls.cfn_name_property

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in cls.cfn_attributes

    def get_cfn_attribute(self, attribute_name: str) -> Any:
        if attribute_name not in self.cfn_attributes:
            raise UnformattedGetAttTemplateException()
        return attrgetter(self.cfn_attributes[attribute_name])(self)

    @classmethod
    def create_from_cloudformation_json(
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        """moto's entry point; a model builds itself from the template properties in ``create``."""
        return cls.create(resource_name, cloudformation_json.get("Properties", {}), account_id, region_name)

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> Any:
        raise NotImplementedError(f"{cls.__name__} must implement create()")

    @classmethod
    def update_from_cloudformation_json(
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> Any:
        """Replace the resource: without this moto would drop it from the stack on an update."""
        original_resource.delete(account_id, region_name)
        return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json, account_id, region_name)

    def is_created(self) -> bool:
        return True


def before_create(model: type, prepare: Callable[[dict[str, Any], str, str], dict[str, Any]]) -> None:
    """Give moto's own CloudFormation create of ``model`` the properties that
    ``prepare(properties, account_id, region_name)`` returns: the way to pass properties in the
    shape moto's model expects."""
    original = model.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = prepare(cloudformation_json.get("Properties", {}), account_id, region_name)
        prepared = {**cloudformation_json, "Properties": properties}
        return original(cls, resource_name, prepared, account_id, region_name, **kwargs)

    install(model, "create_from_cloudformation_json", classmethod(create_from_cloudformation_json))


def after_create(model: type, configure: Callable[[Any, dict[str, Any], str, str], None]) -> None:
    """Run ``configure(resource, properties, account_id, region_name)`` after moto's own
    CloudFormation create of ``model``: the way to apply properties moto's model drops."""
    original = model.create_from_cloudformation_json.__func__  # type: ignore[attr-defined]

    def create_from_cloudformation_json(
        cls: type,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        resource = original(cls, resource_name, cloudformation_json, account_id, region_name, **kwargs)
        configure(resource, cloudformation_json.get("Properties", {}), account_id, region_name)
        return resource

    install(model, "create_from_cloudformation_json", classmethod(create_from_cloudformation_json))
