"""Who may do what: the role matrix in one table, and the principal a request acts as.

A supervisor or an auditor may be limited to some centers (User.centers; none: every center,
the province level). The limit is applied here and in `scope` (services/incidents.py), so
every reader of incidents, the hall, reports and alerts inherits it; an incident of another
center is "not found", as for staff, so that its existence is not revealed. Admins manage the
whole province's users, keys and master data, which a center limit could not hold them to, and
staff see only their own incidents: neither is given centers (services/users.py refuses it).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from etiquette.service.errors import Forbidden
from etiquette.service.models import ApiKey, Incident, User
from etiquette.service.schemas import Role


class Permission(StrEnum):
    INCIDENTS_READ_ALL = "incidents.read_all"
    INCIDENTS_READ_OWN = "incidents.read_own"
    INCIDENTS_REVIEW = "incidents.review"
    INCIDENTS_APPEAL_OWN = "incidents.appeal_own"
    INCIDENTS_DECIDE_APPEAL = "incidents.decide_appeal"
    INCIDENTS_HISTORY = "incidents.history"
    MASTER_READ = "master.read"
    MASTER_WRITE = "master.write"
    USERS_READ = "users.read"
    USERS_WRITE = "users.write"
    API_KEYS_READ = "api_keys.read"
    API_KEYS_WRITE = "api_keys.write"
    AUDIT_READ = "audit.read"
    RULES_READ = "rules.read"
    RULES_ADMIN = "rules.admin"  # the version history, and saving a new version
    RETENTION_RUN = "retention.run"
    REPORTS_READ = "reports.read"  # monthly scores, rankings, red flags, their exports
    SCORING_ADMIN = "scoring.admin"  # the scoring scheme's versions
    ALERTS_SUBSCRIBE = "alerts.subscribe"  # the workbench's live notice of critical incidents
    WEBHOOKS_READ = "webhooks.read"
    WEBHOOKS_ADMIN = "webhooks.admin"
    COMMENDATIONS_WRITE = "commendations.write"  # record a commendation (bonus points)
    PRACTICE = "practice"  # staff self-training: record a phrase, see whether it was recognised
    HALL_READ = "hall.read"  # 大厅态势: every window's inputs, seat and session, live
    INGEST = "ingest"
    HEARTBEAT = "heartbeat"  # a live site reports its windows' state
    RATE = "rate"  # the hall's evaluation device (评价器) posts a citizen's 好差评
    RATINGS_READ = "ratings.read"
    COMPLAINTS_READ_ALL = "complaints.read_all"
    COMPLAINTS_READ_OWN = "complaints.read_own"  # staff: complaints about themselves
    COMPLAINTS_WRITE = "complaints.write"  # register, assign a handler, reply


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.SUPERVISOR: frozenset({P.INCIDENTS_READ_ALL, P.INCIDENTS_REVIEW, P.INCIDENTS_DECIDE_APPEAL,
                                P.INCIDENTS_HISTORY, P.MASTER_READ, P.RULES_READ, P.REPORTS_READ,
                                P.ALERTS_SUBSCRIBE, P.COMMENDATIONS_WRITE, P.HALL_READ,
                                P.RATINGS_READ, P.COMPLAINTS_READ_ALL, P.COMPLAINTS_WRITE}),
    Role.AUDITOR: frozenset({P.INCIDENTS_READ_ALL, P.INCIDENTS_HISTORY, P.MASTER_READ, P.USERS_READ,
                             P.API_KEYS_READ, P.AUDIT_READ, P.RULES_READ, P.REPORTS_READ,
                             P.WEBHOOKS_READ, P.HALL_READ, P.RATINGS_READ,
                             P.COMPLAINTS_READ_ALL}),
    Role.STAFF: frozenset({P.INCIDENTS_READ_OWN, P.INCIDENTS_APPEAL_OWN, P.RULES_READ, P.PRACTICE,
                           P.COMPLAINTS_READ_OWN}),
}
ROLE_PERMISSIONS[Role.ADMIN] = ROLE_PERMISSIONS[Role.SUPERVISOR] | frozenset(
    {P.MASTER_WRITE, P.USERS_READ, P.USERS_WRITE, P.API_KEYS_READ, P.API_KEYS_WRITE, P.AUDIT_READ,
     P.RETENTION_RUN, P.RULES_ADMIN, P.SCORING_ADMIN, P.WEBHOOKS_READ, P.WEBHOOKS_ADMIN})
# Besides ingest a pipeline may read the rules in force, so that a live site scores with them,
# and report its windows' state (the heartbeat); the hall's evaluation device posts ratings
# with its center's key.
PIPELINE_PERMISSIONS = frozenset({P.INGEST, P.RULES_READ, P.HEARTBEAT, P.RATE})


@dataclass(frozen=True)
class Principal:
    """Whoever a request or job acts as: a logged-in user, a pipeline's API key, or the system."""

    label: str  # as written in the audit log
    user: User | None = None
    api_key: ApiKey | None = None
    csrf_token: str | None = None
    grants: frozenset[Permission] = frozenset()  # a system principal's own permissions
    centers: frozenset[int] | None = None  # the only centers a user sees; None: every center

    @property
    def role(self) -> Role | None:
        return Role(self.user.role) if self.user else None

    @property
    def staff_id(self) -> int | None:
        return self.user.staff_id if self.user else None

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.user:
            return ROLE_PERMISSIONS[Role(self.user.role)]
        if self.api_key:
            return PIPELINE_PERMISSIONS
        return self.grants

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, *permissions: Permission) -> None:
        """Any one of `permissions` suffices."""
        if not any(p in self.permissions for p in permissions):
            raise Forbidden("无权执行此操作 (forbidden)")

    def sees_all_incidents(self) -> bool:
        return self.can(P.INCIDENTS_READ_ALL)

    def sees_center(self, center_id: int | None) -> bool:
        return self.centers is None or center_id in self.centers

    def may_see(self, incident: Incident) -> bool:
        if self.can(P.INCIDENTS_READ_ALL):
            return self.sees_center(incident.center_id)
        return (self.can(P.INCIDENTS_READ_OWN) and self.staff_id is not None
                and incident.staff_id == self.staff_id)


# The roles a user's centers limit (see the module's docstring).
CENTER_ROLES = frozenset({Role.SUPERVISOR, Role.AUDITOR})


def user_principal(user: User, csrf_token: str | None = None) -> Principal:
    centers = frozenset(user.center_ids) if Role(user.role) in CENTER_ROLES else frozenset()
    return Principal(label=f"user:{user.username}", user=user, csrf_token=csrf_token,
                     centers=centers or None)


def pipeline_principal(key: ApiKey) -> Principal:
    return Principal(label=f"pipeline:{key.name}", api_key=key)


SYSTEM_RETENTION = Principal(label="system:retention")
SYSTEM_START = Principal(label="system:start-up")  # seeds the first rule and scoring versions
SYSTEM_RATINGS = Principal(label="system:ratings")  # attaches a rating whose session came later
SYSTEM_WEBHOOKS = Principal(label="system:webhooks")  # audits a delivery that failed for good
# An operator at the console.
SYSTEM_CLI = Principal(label="system:cli", grants=frozenset(Permission))
