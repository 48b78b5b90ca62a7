"""A CDK cloud assembly as the cost model reads it: every resource of every template, and the references
between them followed across nested stacks.

The model prices what the templates say, not a list kept by hand, so it has to answer questions such as
"which cluster does this function's environment point at" when the answer sits in another nested stack:
a ``Ref`` to a parameter leads to the parent's ``AWS::CloudFormation::Stack`` resource, whose parameter
value is a ``Fn::GetAtt`` of another nested stack's output, whose value references the resource.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from lib.schedules import RATE, UNIT, occurrences

NESTED_STACK = "AWS::CloudFormation::Stack"
# Properties that carry a resource's physical name, in the order they are tried.
NAME_PROPERTIES = (
    "FunctionName",
    "AlarmName",
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "TableName",
    "BucketName",
    "LogGroupName",
    "QueueName",
    "TopicName",
    "DashboardName",
    "Name",
    "BackupVaultName",
    "RestoreTestingSelectionName",
)
ANCHOR = datetime(2026, 1, 5, tzinfo=UTC)  # where a month of schedule runs is counted from
WEEK = timedelta(days=7)
ASSET_HASH = re.compile(r"/([0-9a-f]{64})\.json")


class BadInput(Exception):
    """Input the tool cannot use (not a cloud assembly, an unreadable template or data file); the message
    is one sentence for the user."""


@dataclass(frozen=True, eq=False)
class Resource:
    """One resource of one template; ``template`` is the template file it comes from. Resources compare
    by identity: the assembly holds each once, and references lead back to that object."""

    stack: str
    template: str
    logical_id: str
    type: str
    properties: Mapping[str, Any]
    metadata: Mapping[str, Any]

    @property
    def name(self) -> str:
        """The physical name when the template states it literally, otherwise the logical id."""
        for key in NAME_PROPERTIES:
            value = self.properties.get(key)
            if isinstance(value, str):
                return value
        return self.logical_id

    @property
    def key(self) -> tuple[str, str]:
        return self.template, self.logical_id

    @property
    def label(self) -> str:
        return f"{self.stack}: {self.name}"


class Assembly:
    """Every template of a cloud assembly directory: the stacks its manifest lists and their nested stacks."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.templates: dict[str, dict[str, Any]] = {}
        self.stack_names: dict[str, str] = {}
        # nested template file -> (parent template file, logical id of its AWS::CloudFormation::Stack)
        self.parents: dict[str, tuple[str, str]] = {}
        self.children: dict[tuple[str, str], str] = {}
        self.asset_files: dict[str, str] = {}  # asset hash -> file, from the asset manifests
        self.tags: dict[str, str] = {}  # the stacks' tags, as the manifest lists them
        for template, stack in self._manifest_stacks():
            self._load(template, stack)
        self.resources = [
            Resource(
                self.stack_names[file],
                file,
                logical_id,
                body.get("Type", "?"),
                body.get("Properties") or {},
                body.get("Metadata") or {},
            )
            for file, template in self.templates.items()
            for logical_id, body in (template.get("Resources") or {}).items()
        ]
        self._by_id = {(r.template, r.logical_id): r for r in self.resources}

    def _manifest_stacks(self) -> Iterator[tuple[str, str]]:
        if not self.directory.is_dir():
            raise BadInput(f"{self.directory} is not a directory; synthesize first (make cost does)")
        manifest = self._json(self.directory / "manifest.json", f"{self.directory} is not a CDK cloud assembly")
        artifacts = manifest.get("artifacts") or {}
        for artifact in artifacts.values():
            if artifact.get("type") == "cdk:asset-manifest":
                assets = self._json(self.directory / artifact["properties"]["file"], "an asset manifest is unusable")
                for digest, asset in (assets.get("files") or {}).items():
                    self.asset_files[digest] = asset["source"]["path"]
        stacks = [
            (artifact["properties"]["templateFile"], artifact.get("displayName", name))
            for name, artifact in artifacts.items()
            if artifact.get("type") == "aws:cloudformation:stack"
        ]
        for artifact in artifacts.values():
            self.tags |= (artifact.get("properties") or {}).get("tags") or {}
        if not stacks:
            raise BadInput(f"{self.directory}/manifest.json lists no CloudFormation stack")
        yield from stacks

    def _json(self, path: Path, what: str) -> dict[str, Any]:
        try:
            loaded = json.loads(path.read_text())
        except FileNotFoundError:
            raise BadInput(f"{what}: {path} is missing") from None
        except (OSError, ValueError) as error:
            raise BadInput(f"{what}: {path} cannot be read as JSON ({error})") from None
        if not isinstance(loaded, dict):
            raise BadInput(f"{what}: {path} is not a JSON object")
        return loaded

    def _load(self, file: str, stack: str) -> None:
        self.templates[file] = self._json(self.directory / file, f"the template of stack {stack} is unusable")
        self.stack_names[file] = stack
        for logical_id, body in (self.templates[file].get("Resources") or {}).items():
            nested = self._nested_template(body) if body.get("Type") == NESTED_STACK else None
            if nested:
                self.parents[nested] = (file, logical_id)
                self.children[(file, logical_id)] = nested
                self._load(nested, _nested_stack_name(body.get("Metadata") or {}, logical_id))

    def _nested_template(self, stack: Mapping[str, Any]) -> str | None:
        """The file of a nested stack's template: named by its asset metadata (``cdk synth``), or found by
        the asset hash in its TemplateURL (an in-process synth writes no asset metadata)."""
        named = (stack.get("Metadata") or {}).get("aws:asset:path")
        if isinstance(named, str):
            return named
        digest = ASSET_HASH.search(json.dumps((stack.get("Properties") or {}).get("TemplateURL")))
        return self.asset_files.get(digest.group(1)) if digest else None

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def references(self, resource: Resource, value: Any) -> list[Resource]:
        """The resources ``value`` (a property of ``resource``) points at, through any intrinsic."""
        return [target for target, _ in self.attributes(resource, value)]

    def attributes(self, resource: Resource, value: Any) -> list[tuple[Resource, str | None]]:
        """Like ``references``, with the attribute read from each (``None`` for a ``Ref``)."""
        return self._references(resource.template, value)

    def _references(self, file: str, value: Any) -> list[tuple[Resource, str | None]]:
        if isinstance(value, list):
            return [found for item in value for found in self._references(file, item)]
        if not isinstance(value, dict):
            return []
        if "Ref" in value:
            return self._ref(file, value["Ref"])
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            logical_id, attribute = target.split(".", 1) if isinstance(target, str) else target
            return self._get_att(file, logical_id, attribute)
        return [found for item in value.values() for found in self._references(file, item)]

    def _ref(self, file: str, name: Any) -> list[tuple[Resource, str | None]]:
        if (file, name) in self._by_id:
            return [(self._by_id[(file, name)], None)]
        parameters = self.templates[file].get("Parameters") or {}
        if name in parameters and file in self.parents:
            parent, stack_id = self.parents[file]
            passed = (self.templates[parent]["Resources"][stack_id].get("Properties") or {}).get("Parameters") or {}
            return self._references(parent, passed.get(name))
        return []  # a pseudo parameter (AWS::Region ...) or a parameter nobody passes

    def _get_att(self, file: str, logical_id: Any, attribute: Any) -> list[tuple[Resource, str | None]]:
        child = self.children.get((file, logical_id))
        if child and isinstance(attribute, str) and attribute.startswith("Outputs."):
            output = (self.templates[child].get("Outputs") or {}).get(attribute.removeprefix("Outputs."), {})
            return self._references(child, output.get("Value"))
        if (file, logical_id) in self._by_id:
            return [(self._by_id[(file, logical_id)], str(attribute))]
        return []


def instants(expression: str, hours: float) -> list[datetime]:
    """When a ``rate()``/``cron()`` schedule fires over one month of ``hours``."""
    return occurrences(expression, ANCHOR, ANCHOR + timedelta(hours=hours), ANCHOR)


@functools.cache
def runs_per_month(expression: str, hours: float) -> float:
    """How often a schedule fires in a month of ``hours``, on average: a daily one 30.4 times, not 30 or
    31. A cron that repeats every week is counted over a week and scaled. Cached: counting a cron walks
    it minute by minute."""
    rate = RATE.match(expression.strip())
    if rate:
        return hours * 3600 / (int(rate.group(1)) * UNIT[rate.group(2).rstrip("s")])
    fields = expression.strip().removeprefix("cron(").removesuffix(")").split()
    if len(fields) == 6 and fields[2] in ("*", "?") and fields[3] == "*" and fields[5] == "*":
        return len(occurrences(expression, ANCHOR, ANCHOR + WEEK, ANCHOR)) * hours / (WEEK.total_seconds() / 3600)
    return float(len(instants(expression, hours)))


def _nested_stack_name(metadata: Mapping[str, Any], logical_id: str) -> str:
    """``TapStackdev/Network.NestedStack/Network.NestedStackResource`` -> ``Network``; without that
    metadata, from CDK's logical id ``NetworkNestedStackNetworkNestedStackResource0124E108``."""
    parts = str(metadata.get("aws:cdk:path", "")).split("/")
    return parts[-2].removesuffix(".NestedStack") if len(parts) >= 2 else logical_id.split("NestedStack")[0]
