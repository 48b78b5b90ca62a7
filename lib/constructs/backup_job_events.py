"""EventBridge rules that turn AWS Backup job state changes of one vault into SNS messages."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lib.config import EnvironmentConfig
from lib.constructs.alerting import alert_target

FAILURE_STATES = ("FAILED", "ABORTED", "EXPIRED")
SUCCESS_STATES = ("COMPLETED",)
BACKUP_JOB_DETAIL_TYPE = "Backup Job State Change"
RETRY_ATTEMPTS = 8
MAX_EVENT_AGE = Duration.hours(2)


def alert_message(headline: str) -> events.RuleTargetInput:
    """A JSON document: the headline, when, and the job's whole event detail (job id, resource,
    vault, state, statusMessage, ...).

    EventBridge inserts the values it extracts without escaping them, so a text template with
    ``<statusMessage>`` inside its quotes breaks on a message that has quotes of its own (``Backup job
    failed because "aurora-cluster-dev" is not in a valid state``). Only whole objects (which
    EventBridge inserts as JSON) and the event time (which has no quotes) are placed here.
    """
    return events.RuleTargetInput.from_object(
        {"alert": headline, "time": events.EventField.time, "detail": events.EventField.from_path("$.detail")}
    )


class BackupJobEvents(Construct):
    """Two rules on the vault's backup jobs: failures alert, completions notify.

    Exposes: failure_rule, completion_rule.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: EnvironmentConfig,
        backup_vault_name: str,
        topic: sns.ITopic,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self._dead_letter_queue = dead_letter_queue
        self.failure_rule = self._rule(
            "FailureRule",
            name=config.name("backup-job-failed"),
            vault_name=backup_vault_name,
            states=FAILURE_STATES,
            headline=f"ALERT: AWS Backup job did not complete ({config.environment_suffix})",
            topic=topic,
        )
        self.completion_rule = self._rule(
            "CompletionRule",
            name=config.name("backup-job-completed"),
            vault_name=backup_vault_name,
            states=SUCCESS_STATES,
            headline=f"OK: AWS Backup job completed ({config.environment_suffix})",
            topic=topic,
        )

    def _rule(
        self,
        construct_id: str,
        *,
        name: str,
        vault_name: str,
        states: tuple[str, ...],
        headline: str,
        topic: sns.ITopic,
    ) -> events.Rule:
        return events.Rule(
            self,
            construct_id,
            rule_name=name,
            description=f"AWS Backup jobs of {vault_name} in state {'/'.join(states)}",
            event_pattern=events.EventPattern(
                source=["aws.backup"],
                detail_type=[BACKUP_JOB_DETAIL_TYPE],
                detail={"state": list(states), "backupVaultName": [vault_name]},
            ),
            # An alert that cannot be published is retried, then kept in the queue whose depth alarms.
            targets=[
                alert_target(
                    topic,
                    message=alert_message(headline),
                    dead_letter_queue=self._dead_letter_queue,
                    retry_attempts=RETRY_ATTEMPTS,
                    max_event_age=MAX_EVENT_AGE,
                )
            ],
        )
