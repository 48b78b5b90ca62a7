"""Which fix wraps which, for every attribute that more than one fix replaces.

``WRAP_ORDER[attribute]`` lists the codes of the fixes that replace ``attribute`` (its dotted path,
``attribute_path``), innermost first: each one wraps the version the fix before it installed.
``install`` refuses a replacement of an attribute another fix already replaced unless both are listed
here in that order, so the order is stated here and checked, not decided by the order in which the
patch modules are imported. A fix left out (``--without``) is skipped; the others keep their order.
"""

from __future__ import annotations

WRAP_ORDER: dict[str, tuple[str, ...]] = {
    # CloudFormation
    # V3 refuses a type without a model, after R4 gave custom resources theirs.
    "moto.cloudformation.parsing.resource_class_from_type": ("R4", "V3"),
    # R4 sorts the removals (custom resources first), Q9 the additions (dependency order).
    "moto.cloudformation.parsing.ResourceMap.build_resource_diff": ("R4", "Q9"),
    # R4 deletes the custom resources first, then the rest in Q18's order.
    "moto.cloudformation.parsing.ResourceMap.delete": ("Q18", "R4"),
    # Termination protection (R14) refuses before V2 runs and reports the deletion.
    "moto.cloudformation.responses.CloudFormationResponse.delete_stack": ("V2", "R14"),
    # KMS: F5 gives moto's create the tags in its shape, Q1 stores the created key's policy as JSON.
    "moto.kms.models.Key.create_from_cloudformation_json": ("Q1", "F5"),
    # RDS
    # N13 hands R6's create the subnet group object it expects instead of the group's name.
    "moto.rds.models.DBInstance.create_from_cloudformation_json": ("R6", "N13"),
    # D50 refuses a cluster with live instances and drops the deleting ones before D3 deletes it
    # and its PostgreSQL server.
    "moto.rds.models.RDSBackend.delete_db_cluster": ("D3", "D50"),
    # AWS Backup
    # Each adds its own routes; none replaces another's.
    "moto.backup.urls.url_paths": ("D10", "D11", "D40", "D42", "Q19"),
    # Each applies a property moto's vault model drops: the lock (F11), the access policy (Q19).
    "tools.local_aws.services.backup.patches.BackupVaultModel.create_from_cloudformation_json": ("F11", "Q19"),
    # Vault Lock (Q7) refuses before the deletion D10 does.
    "moto.backup.responses.BackupResponse.delete_recovery_point": ("D10", "Q7"),
    # SNS: S4 asks for the caller's key use (and delivers as SNS); D61 counts what went through.
    "moto.sns.models.Topic.publish": ("S4", "D61"),
    "moto.sns.models.Subscription.publish": ("S4", "D61"),
    # Lambda
    # Each keeps a property moto's CloudFormation create drops (F9: logging and DLQ, F10: KMS key,
    # F12: tracing mode).
    "moto.awslambda.models.LambdaFunction.create_from_cloudformation_json": ("F9", "F10", "F12"),
    # Q8 checks the role's network permissions before anything is created (and F9 records it).
    "moto.awslambda.models.LambdaBackend.create_function": ("F9", "Q8"),
    # Q8 checks first; then D2 retires the warm environments after the update F9 and F12 record.
    "moto.awslambda.models.LambdaFunction.update_configuration": ("F9", "F12", "D2", "Q8"),
}
