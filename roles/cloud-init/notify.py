"""Completion notices: one SNS message with the result of an instance's first boot.

``cloud_init.notify: {sns_topic_arn, on}`` adds one user-data script (notify.sh.j2). It starts
itself in the background and waits for cloud-init to finish every stage: cloud-init then writes
``/run/cloud-init/result.json`` with the errors of all its modules, a failing script of any
role included, so the notice sees every failure without wrapping the roles' scripts and
whatever the order of the parts. It then publishes one message signed with the instance role's
credentials from IMDSv2 (``curl --aws-sigv4``).

The instance role needs ``sns:Publish`` on that topic and nothing else: the fleet hook writes
``_fleet/iam/<name>.trust.json`` and ``<name>.policy.json`` per distinct topic, and the launch
hook gives that policy to the instance role of each host that notifies.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from bootstrap.errors import BootstrapError
from bootstrap.hosts.loader import Target
from bootstrap.render import iam
from bootstrap.render.hooks import Calls, Ensured, LaunchNeeds, Resource
from bootstrap.render.renderer import Artifact
from bootstrap.roles.cloud_init.settings import CloudInit, Notify

ROLE = "cloud-init"
# SNS's answer for a topic that does not exist.
NOT_FOUND = ("NotFound",)
# Lines of cloud-init's output a failure notice carries.
TAIL_LINES = 40
# Seconds the notice waits for cloud-init before it reports the boot as failed.
TIMEOUT = 7200
# curl signs requests itself from this version on (--aws-sigv4).
CURL_MIN = (7, 75)
# Installs curl on a minimal image of either family.
ENSURE_CURL = ("if command -v apt-get >/dev/null 2>&1; then apt-get update -qq && "
               "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq curl ca-certificates; "
               "else dnf install -y -q curl || yum install -y -q curl; fi")


def policy_name(notify: Notify) -> str:
    """``notify-<topic>-<hash of the ARN>``: topics of one name in two accounts or regions
    get two policies."""
    digest = hashlib.sha256(notify.sns_topic_arn.encode()).hexdigest()[:8]
    return f"notify-{notify.topic[:iam.NAME_LIMIT - 16]}-{digest}"


def publish_policy(notify: Notify) -> dict[str, Any]:
    return iam.policy([{
        "Sid": "PublishCompletionNotice",
        "Effect": "Allow",
        "Action": "sns:Publish",
        "Resource": notify.sns_topic_arn,
    }])


def checked(target: Target, settings: CloudInit | None) -> Notify | None:
    """The host's notify settings, its topic in the instance's own region."""
    notify = settings.notify if settings is not None else None
    if notify is None:
        return None
    region = getattr(target.settings.get("aws"), "region", None)
    if region is not None and region != notify.region:
        raise BootstrapError(
            f"the topic is in {notify.region} and the instance in {region}: notices go to a "
            f"topic of the instance's own region (create one there)",
            origin=target.origin("cloud_init", "notify", "sns_topic_arn"), host=target.name,
            key="cloud_init.notify.sns_topic_arn")
    return notify


def context(target: Target, settings: CloudInit | None) -> dict[str, Any]:
    notify = checked(target, settings)
    if notify is None:
        return {"notify": None}
    template = getattr(target.settings.get("aws"), "launch_template", None)
    return {
        "notify": notify,
        "host_name": target.name,
        "launch_template": template or "",
        "roles": list(target.roles),
        "policy_file": f"_fleet/iam/{policy_name(notify)}.policy.json",
        "tail_lines": TAIL_LINES,
        "timeout": TIMEOUT,
        "ensure_curl": ENSURE_CURL,
        "curl_min": CURL_MIN,
    }


def fleet(targets: list[Target]) -> list[Artifact]:
    """The role's fleet hook: trust and publish policy per distinct topic."""
    topics: dict[str, Notify] = {}
    for target in targets:
        notify = checked(target, target.settings.get("cloud_init"))
        if notify is not None:
            topics[policy_name(notify)] = notify
    return [artifact for name, notify in sorted(topics.items())
            for artifact in iam.instance_role_files(name, publish_policy(notify), ROLE)]


def needs(target: Target, settings: CloudInit | None) -> LaunchNeeds:
    """The launch hook: the instance role carries the publish policy of the host's topic, and
    the topic and its e-mail subscriptions exist when the settings ask launch to make them."""
    notify = checked(target, settings)
    if notify is None:
        return LaunchNeeds()
    if not notify.create and not notify.email:
        return LaunchNeeds(policy=policy_name(notify))
    key = " ".join([notify.sns_topic_arn, *(["create"] if notify.create else []),
                    *sorted(notify.email)])
    return LaunchNeeds(policy=policy_name(notify), resources=(
        Resource(key, notify.region, functools.partial(ensure_topic, notify)),))


def ensure_topic(notify: Notify, api: Calls) -> Ensured:
    """The topic (created only with ``create``) and one e-mail subscription per address.

    Reads first: a topic that exists and addresses already subscribed (confirmed or still
    pending) make no write call. CreateTopic creates in the credentials' account, so a topic
    ARN of another account is refused rather than created where nothing would publish to it.
    """
    arn, done = notify.sns_topic_arn, []
    if notify.create:
        found = api.call("sns", "GetTopicAttributes", missing=NOT_FOUND, TopicArn=arn)
        if found is None:
            made = api.call("sns", "CreateTopic", Name=notify.topic) or {}
            if not api.dry_run and made.get("TopicArn") != arn:
                raise BootstrapError(
                    f"CreateTopic made {made.get('TopicArn')}, not {arn}: the credentials are "
                    f"of another account than the topic's", key="cloud_init.notify.create")
            done.append((True, f"SNS topic {arn} created"))
        else:
            done.append((False, f"SNS topic {arn} exists"))
    subscribed = _email_endpoints(api, arn)
    for address in notify.email:
        if address in subscribed:
            done.append((False, f"SNS topic {notify.topic}: {address} already subscribed"))
            continue
        api.call("sns", "Subscribe", TopicArn=arn, Protocol="email", Endpoint=address)
        done.append((True, f"SNS topic {notify.topic}: {address} subscribed (AWS mails it a "
                           f"confirmation link)"))
    return done


def _email_endpoints(api: Calls, arn: str) -> set[str]:
    """The e-mail addresses subscribed to the topic, pending ones included (all pages)."""
    found: set[str] = set()
    token: dict[str, str] = {}
    while True:
        page = api.call("sns", "ListSubscriptionsByTopic", missing=NOT_FOUND, TopicArn=arn,
                        **token)
        if page is None:
            return found
        found |= {s["Endpoint"] for s in page.get("Subscriptions", [])
                  if s.get("Protocol") == "email"}
        if not page.get("NextToken"):
            return found
        token = {"NextToken": page["NextToken"]}
