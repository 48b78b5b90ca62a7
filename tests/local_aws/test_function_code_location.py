"""GetFunction's Code.Location is served by the emulator (D30): the package downloads with a plain
unsigned GET, per version, for zip uploads and S3-deployed (CDK) functions alike. And the function
export (lib/lambda/function_export) runs end to end on the emulator as CloudFormation runs it: it
copies packages from an asset bucket, with a role that may not call the Lambda API at all."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .helpers import TRUST_LAMBDA, CloudFormation, template

REPO_ROOT = Path(__file__).resolve().parents[2]
EXPORT_FUNCTION = REPO_ROOT / "lib" / "lambda" / "function_export"
SHARED_PACKAGE = REPO_ROOT / "lib" / "lambda" / "dr_common"


def _zip(source: str) -> bytes:
    """A package of one file, ``index.py``."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.py", source)
    return buffer.getvalue()


def _export_package() -> bytes:
    """The function export's modules with the shared package dr_common beside them, as bundled."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in sorted(EXPORT_FUNCTION.glob("*.py")):
            archive.write(path, path.name)
        for path in sorted(SHARED_PACKAGE.glob("*.py")):
            archive.write(path, f"dr_common/{path.name}")
    return buffer.getvalue()


def _sha(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _download(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/zip"
        return bytes(response.read())


@pytest.fixture(scope="module")
def role_arn(aws: Callable[[str], Any]) -> str:
    """The functions' role, allowed what the function export calls (IAM is enforced for it): S3 only."""
    iam = aws("iam")
    name = "code-location-tests"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(TRUST_LAMBDA))["Role"]["Arn"]
    statement = {
        "Effect": "Allow",
        "Action": ["s3:GetObject", "s3:PutObject"],
        "Resource": ["arn:aws:s3:::*/*"],
    }
    document = json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    iam.put_role_policy(RoleName=name, PolicyName="export", PolicyDocument=document)
    return str(arn)


def test_code_location_is_the_emulator_and_serves_the_uploaded_zip(
    aws: Callable[[str], Any], endpoint: str, role_arn: str, suffix: str
) -> None:
    package = _zip("def handler(event, context):\n    return 'v1'\n")
    name = f"code-location-{suffix}"
    aws("lambda").create_function(
        FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="index.handler", Code={"ZipFile": package}
    )
    described = aws("lambda").get_function(FunctionName=name)
    location = described["Code"]["Location"]
    assert location.startswith(f"{endpoint}/lambda_us-east-1/function-code/")
    assert described["Code"]["RepositoryType"] == "S3"
    downloaded = _download(location)
    assert downloaded == package
    assert _sha(downloaded) == described["Configuration"]["CodeSha256"]


def test_each_version_serves_its_own_package_and_a_replaced_one_is_gone(
    aws: Callable[[str], Any], role_arn: str, suffix: str
) -> None:
    client = aws("lambda")
    first, second = (_zip(f"def handler(event, context):\n    return {n}\n") for n in (1, 2))
    name = f"code-versions-{suffix}"
    client.create_function(
        FunctionName=name, Runtime="python3.12", Role=role_arn, Handler="index.handler", Code={"ZipFile": first}
    )
    old_latest = client.get_function(FunctionName=name)["Code"]["Location"]
    version = client.publish_version(FunctionName=name)["Version"]
    client.update_function_code(FunctionName=name, ZipFile=second)

    assert _download(client.get_function(FunctionName=name, Qualifier=version)["Code"]["Location"]) == first
    assert _download(client.get_function(FunctionName=name)["Code"]["Location"]) == second
    with pytest.raises(urllib.error.HTTPError) as replaced:
        _download(old_latest)  # $LATEST's package then was replaced: as an object that is gone
    assert replaced.value.code == 404


def test_an_unknown_function_is_not_found(endpoint: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as missing:
        _download(f"{endpoint}/lambda_us-east-1/function-code/123456789012/no-such-function/%24LATEST")
    assert missing.value.code == 404


def test_a_function_deployed_from_an_s3_asset_serves_that_package(
    aws: Callable[[str], Any], cfn: CloudFormation, suffix: str
) -> None:
    """As CDK deploys every function of the app: Code is S3Bucket/S3Key of an asset."""
    bucket, key = f"assets-{suffix}", "0123abcd.zip"
    package = _zip("def handler(event, context):\n    return 'from s3'\n")
    aws("s3").create_bucket(Bucket=bucket)
    aws("s3").put_object(Bucket=bucket, Key=key, Body=package)
    name = f"code-s3-{suffix}"
    stack = cfn.deploy(
        template(
            {
                "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST_LAMBDA}},
                "Function": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "FunctionName": name,
                        "Runtime": "python3.12",
                        "Handler": "index.handler",
                        "Code": {"S3Bucket": bucket, "S3Key": key},
                        "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    },
                },
            }
        )
    )
    assert stack.status == "CREATE_COMPLETE"
    assert _download(aws("lambda").get_function(FunctionName=name)["Code"]["Location"]) == package


# --- the function export on the emulator ------------------------------------------------------------


@pytest.fixture
def export_setup(aws: Callable[[str], Any], role_arn: str, suffix: str) -> dict[str, Any]:
    """A versioned data bucket, an asset bucket holding two packages (one function's and the export
    function's own), and the export function (its modules and dr_common: the emulator's Python
    provides Powertools, as the bundled package does in AWS)."""
    bucket, assets = f"data-{suffix}", f"assets-export-{suffix}"
    for name in (bucket, assets):
        aws("s3").create_bucket(Bucket=name)
    aws("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    target, exporter = f"exported-{suffix}", f"function-export-{suffix}"
    packages = {target: _zip("def handler(event, context):\n    return 'exported'\n"), exporter: _export_package()}
    for name, package in packages.items():
        aws("s3").put_object(Bucket=assets, Key=f"{name}.zip", Body=package)
    aws("lambda").create_function(
        FunctionName=exporter,
        Runtime="python3.12",
        Role=role_arn,
        Handler="handler.handler",
        Code={"S3Bucket": assets, "S3Key": f"{exporter}.zip"},
        Timeout=60,
        Environment={"Variables": {"BUCKET_NAME": bucket}},
    )
    functions = [
        {
            "Configuration": {
                "FunctionName": name,
                "Runtime": "python3.12",
                "Role": role_arn,
                "Handler": "index.handler" if name == target else "handler.handler",
                "MemorySize": 256,
                "Environment": {"Variables": {"GREETING": "hello"}},
            },
            "Package": {"Bucket": assets, "Key": f"{name}.zip"},
        }
        for name in packages
    ]
    return {"bucket": bucket, "target": target, "packages": packages, "exporter": exporter, "functions": functions}


def _object(aws: Callable[[str], Any], bucket: str, key: str) -> bytes:
    return bytes(aws("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_the_custom_resource_exports_every_function_from_the_asset_bucket_and_answers_cloudformation(
    aws: Callable[[str], Any], cfn: CloudFormation, export_setup: dict[str, Any]
) -> None:
    bucket, target, exporter = export_setup["bucket"], export_setup["target"], export_setup["exporter"]
    exporter_arn = aws("lambda").get_function(FunctionName=exporter)["Configuration"]["FunctionArn"]
    stack = cfn.deploy(
        template(
            {
                "Export": {
                    "Type": "Custom::FunctionExport",
                    "Properties": {"ServiceToken": exporter_arn, "Functions": export_setup["functions"]},
                }
            },
            outputs={"Exported": {"Fn::GetAtt": ["Export", "Exported"]}},
        )
    )

    assert stack.status == "CREATE_COMPLETE", cfn.events(stack)
    assert stack.outputs["Exported"] == "2"
    package = export_setup["packages"][target]
    assert _object(aws, bucket, f"lambda-exports/{target}/code.zip") == package
    configuration = json.loads(_object(aws, bucket, f"lambda-exports/{target}/configuration.json"))
    assert configuration["CodeSha256"] == _sha(package)
    # CloudFormation turned MemorySize into a string on the way; the export turns it back
    assert (configuration["Runtime"], configuration["Handler"], configuration["MemorySize"]) == (
        "python3.12",
        "index.handler",
        256,
    )
    assert configuration["Environment"] == {"Variables": {"GREETING": "hello"}}
    own_code = _object(aws, bucket, f"lambda-exports/{exporter}/code.zip")
    assert "handler.py" in zipfile.ZipFile(io.BytesIO(own_code)).namelist()  # it exported itself
    assert cfn.delete(stack).status == "DELETE_COMPLETE"  # Delete does nothing: the exports stay
    assert _object(aws, bucket, f"lambda-exports/{target}/code.zip") == package
