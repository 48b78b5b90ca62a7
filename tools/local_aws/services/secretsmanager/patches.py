"""Secrets Manager support for moto's CloudFormation: secrets, DB attachments, rotation, policies."""

from __future__ import annotations

import json
import re
import time
from typing import Any, ClassVar

from moto.rds.models import rds_backends
from moto.secretsmanager.exceptions import SecretsManagerClientError
from moto.secretsmanager.models import FakeSecret, SecretsManagerBackend, secretsmanager_backends

from ...patches._support import ModelLogic, Properties, fix, install, register_model
from ..kms import usage as key_usage


def _backend(account_id: str, region_name: str) -> Any:
    return secretsmanager_backends[account_id][region_name]


def _secret(account_id: str, region_name: str, secret_id: str) -> FakeSecret | None:
    """The live secret with this name or ARN, if any."""
    secret = _backend(account_id, region_name).secrets.get(secret_id)
    return secret if secret is not None and not secret.is_deleted() else None


def _generated_secret_string(account_id: str, region_name: str, spec: dict[str, Any]) -> str:
    """A ``GenerateSecretString`` value: a random password, alone or put into the JSON template."""
    password = json.loads(
        _backend(account_id, region_name).get_random_password(
            password_length=int(spec.get("PasswordLength", 32)),
            exclude_characters=spec.get("ExcludeCharacters", ""),
            exclude_numbers=spec.get("ExcludeNumbers", False),
            exclude_punctuation=spec.get("ExcludePunctuation", False),
            exclude_uppercase=spec.get("ExcludeUppercase", False),
            exclude_lowercase=spec.get("ExcludeLowercase", False),
            include_space=spec.get("IncludeSpace", False),
            require_each_included_type=spec.get("RequireEachIncludedType", True),
        )
    )["RandomPassword"]
    if "GenerateStringKey" not in spec:
        return password
    document = json.loads(spec.get("SecretStringTemplate", "{}"))
    document[spec["GenerateStringKey"]] = password
    return json.dumps(document)


class SecretModel(ModelLogic):
    """``AWS::SecretsManager::Secret`` with a given or generated value."""

    cfn_type: ClassVar[str] = "AWS::SecretsManager::Secret"
    cfn_name_property: ClassVar[str] = "Name"

    cfn_attributes: ClassVar[dict[str, str]] = {"Id": "arn"}

    def __init__(self, arn: str):
        self.arn = arn

    @classmethod
    def create(cls, resource_name: str, properties: Properties, account_id: str, region_name: str) -> SecretModel:
        value = properties.get("SecretString")
        if value is None:
            value = _generated_secret_string(account_id, region_name, properties.get("GenerateSecretString", {}))
        created = _backend(account_id, region_name).create_secret(
            name=resource_name,
            secret_string=value,
            secret_binary=None,
            description=properties.get("Description"),
            tags=properties.get("Tags"),
            kms_key_id=properties.get("KmsKeyId"),
            client_request_token=None,
            replica_regions=properties.get("ReplicaRegions", []),
            force_overwrite=False,
        )
        return cls(json.loads(created)["ARN"])

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    def delete(self, account_id: str, region_name: str) -> None:
        """Deleted at once (no recovery window), so a redeploy can reuse the name."""
        if _secret(account_id, region_name, self.arn) is not None:
            _backend(account_id, region_name).delete_secret(
                self.arn, recovery_window_in_days=None, force_delete_without_recovery=True
            )


# The engine name CloudFormation writes into an attached secret, by RDS engine.
SECRET_ENGINE_NAMES = {"aurora-postgresql": "postgres", "aurora-mysql": "mysql"}


def _connection_fields(target_type: str, target_id: str, account_id: str, region_name: str) -> dict[str, Any]:
    """What CloudFormation writes into a secret attached to an RDS cluster or instance."""
    backend = rds_backends[account_id][region_name]
    if target_type == "AWS::RDS::DBCluster":
        cluster = backend.clusters[target_id.lower()]
        return {
            "engine": SECRET_ENGINE_NAMES.get(cluster.engine, cluster.engine),
            "host": cluster.endpoint,
            "port": cluster.port,
            "dbname": cluster.database_name,
            "dbClusterIdentifier": cluster.db_cluster_identifier,
        }
    instance = backend.databases[target_id.lower()]
    return {
        "engine": instance.engine,
        "host": instance.address,
        "port": instance.port,
        "dbname": instance.db_name,
        "dbInstanceIdentifier": instance.db_instance_identifier,
    }


class SecretTargetAttachmentModel(ModelLogic):
    """``AWS::SecretsManager::SecretTargetAttachment``: connection details merged into the secret."""

    cfn_type: ClassVar[str] = "AWS::SecretsManager::SecretTargetAttachment"

    def __init__(self, secret_arn: str):
        self.secret_arn = secret_arn

    @classmethod
    def create(
        cls, resource_name: str, properties: Properties, account_id: str, region_name: str
    ) -> SecretTargetAttachmentModel:
        backend = _backend(account_id, region_name)
        secret_id = properties["SecretId"]
        current = json.loads(backend.get_secret_value(secret_id, None, None)["SecretString"])
        fields = _connection_fields(properties["TargetType"], properties["TargetId"], account_id, region_name)
        backend.put_secret_value(
            secret_id,
            json.dumps({**current, **{k: v for k, v in fields.items() if v is not None}}),
            None,
            None,
            ["AWSCURRENT"],
        )
        return cls(backend.secrets[secret_id].arn)

    @property
    def physical_resource_id(self) -> str:
        return self.secret_arn

    def delete(self, account_id: str, region_name: str) -> None:
        """Nothing to undo: as in AWS, the secret keeps the connection fields."""


@fix("R7")
def add_secret_models() -> None:
    """``AWS::SecretsManager::Secret`` and ``SecretTargetAttachment`` have no moto model.

    A ``Ref`` to the attachment (the DB secret's ARN, passed to the compute layer) resolved to
    nothing and the deploy failed with MissingParameterError. The secret is now created with its
    value or a generated password (length and exclusions honoured, put under GenerateStringKey in
    SecretStringTemplate); Ref is the ARN; delete is immediate. The attachment writes engine, host,
    port, dbname and the cluster identifier into the secret, as CloudFormation does.
    """
    register_model(SecretModel, "secretsmanager")
    register_model(SecretTargetAttachmentModel, "secretsmanager")


RATE_IN_DAYS = re.compile(r"rate\((\d+) days?\)")


def _rotation_interval_days(rules: dict[str, Any]) -> int:
    """Days between rotations, from AutomaticallyAfterDays or a ``rate(N days)`` expression."""
    if "AutomaticallyAfterDays" in rules:
        return int(rules["AutomaticallyAfterDays"])
    match = RATE_IN_DAYS.fullmatch(rules.get("ScheduleExpression", ""))
    return int(match.group(1)) if match else 0


class RotationScheduleModel(ModelLogic):
    """``AWS::SecretsManager::RotationSchedule``: the rotation settings stored on the secret."""

    cfn_type: ClassVar[str] = "AWS::SecretsManager::RotationSchedule"

    def __init__(self, secret_arn: str):
        self.secret_arn = secret_arn

    @classmethod
    def create(
        cls, resource_name: str, properties: Properties, account_id: str, region_name: str
    ) -> RotationScheduleModel:
        secret = _backend(account_id, region_name).secrets[properties["SecretId"]]
        days = _rotation_interval_days(properties.get("RotationRules", {}))
        secret.rotation_requested = True
        secret.rotation_enabled = True
        secret.rotation_lambda_arn = properties.get("RotationLambdaARN", "")
        secret.auto_rotate_after_days = days
        secret.next_rotation_date = int(time.time()) + days * 86400 if days else None
        return cls(secret.arn)

    @property
    def physical_resource_id(self) -> str:
        return self.secret_arn

    def delete(self, account_id: str, region_name: str) -> None:
        secret = _secret(account_id, region_name, self.secret_arn)
        if secret is not None:
            secret.rotation_enabled = False
            secret.next_rotation_date = None


@fix("N4")
def add_rotation_schedule_model() -> None:
    """``AWS::SecretsManager::RotationSchedule`` has no moto model.

    The schedule is now recorded on the secret (DescribeSecret: RotationEnabled, RotationRules,
    NextRotationDate) but no rotation runs: a rotation Lambda cannot run without Docker, and the
    rotation function that ``HostedRotationLambda`` asks for does not exist, because moto ignores
    the template's ``Transform`` (``AWS::SecretsManager-2024-09-16``), which in AWS creates it.
    RotationLambdaARN therefore reads empty for a hosted rotation.
    """
    register_model(RotationScheduleModel, "secretsmanager")


class SecretResourcePolicyModel(ModelLogic):
    """``AWS::SecretsManager::ResourcePolicy``: a secret's resource policy."""

    cfn_type: ClassVar[str] = "AWS::SecretsManager::ResourcePolicy"

    def __init__(self, secret_arn: str):
        self.secret_arn = secret_arn

    @classmethod
    def create(
        cls, resource_name: str, properties: Properties, account_id: str, region_name: str
    ) -> SecretResourcePolicyModel:
        arn, _ = _backend(account_id, region_name).put_resource_policy(
            properties["SecretId"], json.dumps(properties["ResourcePolicy"])
        )
        return cls(arn)

    @property
    def physical_resource_id(self) -> str:
        return self.secret_arn

    def delete(self, account_id: str, region_name: str) -> None:
        if _secret(account_id, region_name, self.secret_arn) is not None:
            _backend(account_id, region_name).delete_resource_policy(self.secret_arn)


@fix("N5")
def add_secret_resource_policy_model() -> None:
    """``AWS::SecretsManager::ResourcePolicy`` (CDK adds one to the attached DB secret) has no moto
    model; the policy is now stored (GetResourcePolicy)."""
    register_model(SecretResourcePolicyModel, "secretsmanager")


# Secrets Manager's answer when the caller may not use the secret's key (AWS Secrets Manager User
# Guide, "Troubleshoot AWS Secrets Manager": "Access to KMS is not allowed").
KMS_NOT_ALLOWED = "Access to KMS is not allowed"


def _use_secret_key(backend: SecretsManagerBackend, secret_id: str, action: str) -> None:
    """Raise AccessDeniedException if the secret has a customer managed key the caller may not have
    Secrets Manager use for ``action``."""
    secret = _secret(backend.account_id, backend.region_name, secret_id)
    key_id = getattr(secret, "kms_key_id", None)
    if key_usage.denial(action, key_id, "secretsmanager", backend.account_id, backend.region_name) is not None:
        raise SecretsManagerClientError("AccessDeniedException", KMS_NOT_ALLOWED)


@fix("S2")
def secrets_manager_uses_kms_keys_as_the_caller() -> None:
    """moto returns a secret's value to any caller, whatever key encrypts it; on AWS the caller
    needs kms:Decrypt on the secret's customer managed key through Secrets Manager to read it and
    kms:GenerateDataKey to write a new value (AWS Secrets Manager User Guide, "Secret encryption and
    decryption in AWS Secrets Manager"). GetSecretValue now asks for kms:Decrypt and PutSecretValue
    for kms:GenerateDataKey, as the caller with kms:ViaService secretsmanager (``kms.usage``); a
    refusal is AccessDeniedException "Access to KMS is not allowed". (Rotation never runs here, N4.)
    """
    get_value = SecretsManagerBackend.get_secret_value
    put_value = SecretsManagerBackend.put_secret_value

    def get_secret_value(backend: SecretsManagerBackend, secret_id: str, *args: Any, **kwargs: Any) -> Any:
        _use_secret_key(backend, secret_id, "kms:Decrypt")
        return get_value(backend, secret_id, *args, **kwargs)

    def put_secret_value(backend: SecretsManagerBackend, secret_id: str, *args: Any, **kwargs: Any) -> Any:
        _use_secret_key(backend, secret_id, "kms:GenerateDataKey")
        return put_value(backend, secret_id, *args, **kwargs)

    install(SecretsManagerBackend, "get_secret_value", get_secret_value)
    install(SecretsManagerBackend, "put_secret_value", put_secret_value)
