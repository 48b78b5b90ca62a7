"""AWS FIS experiment templates that take an Availability Zone away, and fail the Aurora writer over.

* One *AZ loss* template per AZ (tag Name ``fis-az-loss-<az letter>-<suffix>``; FIS templates have no
  name property, so the name is the Name tag and starts the description): the action
  ``aws:network:disrupt-connectivity`` with ``scope`` ``all`` for ``config.az_loss_duration`` on the
  isolated subnets of that AZ, named by ARN. FIS swaps the subnets' network ACL for a deny-all one
  (tagged ``managedByFIS``) and puts the original back at the end. Why one template per AZ:
  StartExperiment cannot override a template's targets, so the drill (``python -m tools.dr_drill
  az-loss``) picks the AZ by picking the template.
* A *writer failover* template: ``aws:rds:failover-db-cluster`` on the cluster. A network ACL does not
  make Aurora fail over -- the writer in the lost AZ stays writer and unreachable -- and a template
  cannot know at start time where the writer is. So the drill starts this template together with the
  AZ-loss one when the writer sits in the lost AZ.

Stop conditions (FIS allows five per template): the alarms that mean harm beyond the experiment --
``undelivered-alerts`` (an alert or DR signal was dead-lettered) and each resource's ``rpo-*`` alarm.
The canary's own alarms are expected to fire (about one invocation in three lands in the lost AZ) and
are not stop conditions.

Each experiment logs to ``fis-experiments-<suffix>`` (the monitoring CMK, schema version 2), and its
state changes reach the alerts topic, so whoever is on call knows a drill is running.

The role ``fis-experiments-<suffix>`` (trusted by fis.amazonaws.com for this account's experiments
only) may do exactly what the two actions and the log delivery need (the AWS managed policies
AWSFaultInjectionSimulatorNetworkAccess and AWSFaultInjectionSimulatorRDSAccess, narrowed):

* create a network ACL in this VPC only when it is tagged ``managedByFIS=true``, tag it so at creation,
  add entries to and delete only ACLs carrying that tag;
* swap ACL associations of the isolated subnets of this VPC (the disruption, and putting the original
  ACL back);
* ``ec2:DescribeNetworkAcls``, ``ec2:DescribeSubnets``, ``ec2:DescribeVpcs``: no resource-level
  permissions, so ``*`` in this region;
* ``rds:FailoverDBCluster`` and ``rds:DescribeDBClusters`` on the cluster;
* experiment logging to CloudWatch Logs (Amazon CloudWatch Logs User Guide, "Logs sent to CloudWatch
  Logs"): ``logs:CreateLogDelivery`` (no resource-level permissions), and ``logs:PutResourcePolicy``,
  ``logs:DescribeResourcePolicies``, ``logs:DescribeLogGroups`` on this account's log groups (the guide
  asks for the ``log-group:*`` wildcard: the resource policy is the account's, not one group's).
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_fis as fis
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_rds as rds
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.alerting import alert_target
from lib.constructs.backup_job_events import MAX_EVENT_AGE, RETRY_ATTEMPTS, alert_message
from lib.constructs.execution_role import unscopable_statement
from lib.constructs.log_group import encrypted_log_group

MAX_STOP_CONDITIONS = 5  # FIS quota per experiment template
FIS_TAG = {"aws:RequestTag/managedByFIS": "true"}
EXPERIMENT_DETAIL_TYPE = "FIS Experiment State Change"
UNSCOPABLE_EC2_ACTIONS = ("ec2:DescribeNetworkAcls", "ec2:DescribeSubnets", "ec2:DescribeVpcs")
LOG_DELIVERY_ACTIONS = ("logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups")


class AzExperiments(Construct):
    """The per-AZ loss templates, the writer failover template, their role, log group and alert rule.

    Exposes: az_loss (AZ -> template), writer_failover, role, log_group, rule.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        vpc: ec2.IVpc,
        cluster: rds.IDatabaseCluster,
        stop_alarms: Sequence[cloudwatch.IAlarm],
        log_key: kms.IKey,
        topic: sns.ITopic,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        if len(stop_alarms) > MAX_STOP_CONDITIONS:
            raise ValueError(f"FIS allows {MAX_STOP_CONDITIONS} stop conditions per template, not {len(stop_alarms)}")
        region, account = config.region, config.account
        subnets_by_az = {
            az: [s for s in vpc.isolated_subnets if s.availability_zone == az] for az in config.availability_zones
        }
        subnet_arns = {
            az: [f"arn:aws:ec2:{region}:{account}:subnet/{s.subnet_id}" for s in subnets]
            for az, subnets in subnets_by_az.items()
        }
        self.log_group = encrypted_log_group(
            self, "LogGroup", config=config, name=config.name("fis-experiments"), key=log_key
        )
        self.role = iam.Role(
            self,
            "Role",
            role_name=config.name("fis-experiments"),
            description="Role AWS FIS assumes to run the AZ-loss and writer-failover experiments",
            assumed_by=iam.ServicePrincipal(
                "fis.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:fis:{region}:{account}:experiment/*"},
                },
            ),
        )
        iam.ManagedPolicy(
            self,
            "Policy",
            managed_policy_name=config.name("fis-experiments-policy"),
            roles=[self.role],
            statements=_statements(
                config, vpc, [arn for arns in subnet_arns.values() for arn in arns], cluster.cluster_arn
            ),
        )
        self._stop_conditions = [
            fis.CfnExperimentTemplate.ExperimentTemplateStopConditionProperty(
                source="aws:cloudwatch:alarm", value=alarm.alarm_arn
            )
            for alarm in stop_alarms
        ]
        self.az_loss = {
            az: self._template(
                f"AzLoss{az[-1].upper()}",
                config.name(f"fis-az-loss-{az[-1]}"),
                f"the isolated subnets of {az} lose all connectivity for {config.az_loss_duration}",
                fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                    resource_type="aws:ec2:subnet", selection_mode="ALL", resource_arns=arns
                ),
                fis.CfnExperimentTemplate.ExperimentTemplateActionProperty(
                    action_id="aws:network:disrupt-connectivity",
                    description=f"Deny all traffic in and out of the isolated subnets of {az}",
                    parameters={"duration": config.az_loss_duration, "scope": "all"},
                    targets={"Subnets": "targets"},
                ),
            )
            for az, arns in subnet_arns.items()
        }
        self.writer_failover = self._template(
            "WriterFailover",
            config.name("fis-aurora-failover"),
            "fail the Aurora cluster's writer over to a reader",
            fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty(
                resource_type="aws:rds:cluster", selection_mode="ALL", resource_arns=[cluster.cluster_arn]
            ),
            fis.CfnExperimentTemplate.ExperimentTemplateActionProperty(
                action_id="aws:rds:failover-db-cluster",
                description="Promote a reader to writer",
                targets={"Clusters": "targets"},
            ),
        )
        # Only this environment's experiments (AWS FIS User Guide, "Monitor AWS FIS experiments using
        # Amazon EventBridge": the detail names the template); an alert that cannot be published is
        # retried, then kept in the queue whose depth alarms.
        own_templates = [template.attr_id for template in (*self.az_loss.values(), self.writer_failover)]
        self.rule = events.Rule(
            self,
            "StateChanges",
            rule_name=config.name("fis-experiment-state"),
            description="AWS FIS experiment state changes: a fault-injection experiment is running or ended",
            event_pattern=events.EventPattern(
                source=["aws.fis"],
                detail_type=[EXPERIMENT_DETAIL_TYPE],
                detail={"experiment-template-id": own_templates},
            ),
            targets=[
                alert_target(
                    topic,
                    message=alert_message(f"NOTICE: AWS FIS experiment state change ({config.environment_suffix})"),
                    dead_letter_queue=dead_letter_queue,
                    retry_attempts=RETRY_ATTEMPTS,
                    max_event_age=MAX_EVENT_AGE,
                )
            ],
        )

    def _template(
        self,
        construct_id: str,
        name: str,
        what: str,
        target: fis.CfnExperimentTemplate.ExperimentTemplateTargetProperty,
        action: fis.CfnExperimentTemplate.ExperimentTemplateActionProperty,
    ) -> fis.CfnExperimentTemplate:
        """A template of one action on one target, named by its Name tag (FIS templates have no name)."""
        return fis.CfnExperimentTemplate(
            self,
            construct_id,
            description=f"{name}: {what}",
            tags={"Name": name},
            role_arn=self.role.role_arn,
            targets={"targets": target},
            actions={"fault": action},
            stop_conditions=self._stop_conditions,
            log_configuration=fis.CfnExperimentTemplate.ExperimentTemplateLogConfigurationProperty(
                log_schema_version=2,
                cloud_watch_logs_configuration={"LogGroupArn": self.log_group.log_group_arn},
            ),
            experiment_options=fis.CfnExperimentTemplate.ExperimentTemplateExperimentOptionsProperty(
                account_targeting="single-account", empty_target_resolution_mode="fail"
            ),
        )

    def template_ids(self) -> dict[str, str]:
        """AZ -> the AZ-loss template's id (a token), for the stack's outputs."""
        return {az: template.attr_id for az, template in self.az_loss.items()}


def _statements(
    config: EnvironmentConfig, vpc: ec2.IVpc, subnet_arns: list[str], cluster_arn: str
) -> list[iam.PolicyStatement]:
    """Exactly what the two FIS actions and the experiment log delivery need; see the module docstring."""
    region, account = config.region, config.account
    vpc_arn = Stack.of(vpc).format_arn(service="ec2", resource="vpc", resource_name=vpc.vpc_id)
    acls = f"arn:aws:ec2:{region}:{account}:network-acl/*"
    in_vpc = {"ArnEquals": {"ec2:Vpc": vpc_arn}}
    return [
        iam.PolicyStatement(
            sid="CreateDisruptionAcl",
            actions=["ec2:CreateNetworkAcl"],
            resources=[vpc_arn, acls],
            conditions={"StringEquals": FIS_TAG},
        ),
        iam.PolicyStatement(
            sid="TagDisruptionAclAtCreation",
            actions=["ec2:CreateTags"],
            resources=[acls],
            conditions={"StringEquals": {**FIS_TAG, "ec2:CreateAction": "CreateNetworkAcl"}},
        ),
        iam.PolicyStatement(
            sid="FillAndDeleteDisruptionAcl",
            actions=["ec2:CreateNetworkAclEntry", "ec2:DeleteNetworkAcl"],
            resources=[acls],
            conditions={"StringEquals": {"ec2:ResourceTag/managedByFIS": "true"}, **in_vpc},
        ),
        iam.PolicyStatement(
            sid="SwapAclsOfTheIsolatedSubnets",
            actions=["ec2:ReplaceNetworkAclAssociation"],
            resources=[*subnet_arns, acls],
            conditions=in_vpc,
        ),
        unscopable_statement("DescribeNetwork", UNSCOPABLE_EC2_ACTIONS, region),
        iam.PolicyStatement(
            sid="FailOverTheCluster",
            actions=["rds:FailoverDBCluster", "rds:DescribeDBClusters"],
            resources=[cluster_arn],
        ),
        unscopable_statement("DeliverExperimentLogs", ["logs:CreateLogDelivery"], region),
        iam.PolicyStatement(
            sid="AllowLogDeliveryIntoLogGroups",
            actions=list(LOG_DELIVERY_ACTIONS),
            resources=[f"arn:aws:logs:{region}:{account}:log-group:*"],
        ),
    ]
