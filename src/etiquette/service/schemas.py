"""Request and response bodies: a Base/Create/Update/Public family per entity, limits on fields.

`IncidentIn` is the incident line of `etiquette batch` (etiquette.core.records.Incident.to_json())
without its `evidence` paths: the evidence files travel as parts of the same request.
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from etiquette.core.records import IncidentKind, Severity, Speaker
from etiquette.core.session_records import SESSION_RECORD, CheckState
from etiquette.health import HealthState


class Role(StrEnum):
    ADMIN = "admin"  # users, master data, API keys; may also do what a supervisor does
    SUPERVISOR = "supervisor"  # reviews every incident, decides appeals
    STAFF = "staff"  # sees and appeals only their own incidents
    AUDITOR = "auditor"  # reads everything, changes nothing, reads the audit log


class ReviewStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    DISMISSED = "dismissed"
    APPEALED = "appealed"


class ReviewAction(StrEnum):
    CONFIRM = "confirm"
    DISMISS = "dismiss"
    REOPEN = "reopen"


class AppealDecision(StrEnum):
    ACCEPTED = "accepted"  # the appeal is right: the incident is dismissed
    REJECTED = "rejected"  # the incident stands: confirmed again


class EvidenceRole(StrEnum):
    CLIP = "clip"  # audio around the utterance
    SNAPSHOT = "snapshot"  # camera frame at the time of the incident
    EMPTY_SEAT = "empty_seat"  # off_post: the seat seen empty
    LAST_SEEN = "last_seen"  # off_post: the last frame with the staff member present
    FIRST_FRAME = "first_frame"  # asleep_at_post, gathering: the first frame that showed it
    LAST_FRAME = "last_frame"  # asleep_at_post, gathering: the last frame that showed it


Text = Annotated[str, StringConstraints(strip_whitespace=True)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64,
                                        pattern=r"^[^\x00-\x1f\x7f/\\]+$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200,
                                        pattern=r"^[^\x00-\x1f\x7f]+$")]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]

MAX_ID = 2**31 - 1  # every integer key fits a 32-bit database integer
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_CLOCK_SKEW = timedelta(days=1)


def _recent(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    if at < EARLIEST or at > datetime.now(UTC) + MAX_CLOCK_SKEW:
        raise ValueError("at must be between 2000-01-01 and tomorrow")
    return at


# A time a pipeline, a device or a person reports: UTC, from 2000 to at most a day ahead.
RecentTime = Annotated[AwareDatetime, AfterValidator(_recent)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------- incidents


class IncidentIn(_Strict):
    id: uuid.UUID
    source: str = Field(min_length=1, max_length=1024)
    window_id: Code
    kind: IncidentKind
    rule_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    rule_name: Name
    phrase: str | None = Field(None, max_length=500)
    speaker: Speaker
    offset_s: float = Field(ge=0, le=7 * 24 * 3600, allow_inf_nan=False)
    end_s: float = Field(ge=0, le=7 * 24 * 3600, allow_inf_nan=False)
    at: AwareDatetime | None = Field(None, description="absolute UTC time of offset_s")
    transcript: str = Field("", max_length=20000)
    score: float = Field(ge=0, le=1, allow_inf_nan=False)
    severity: Severity
    deduction: float = Field(ge=0, le=100, allow_inf_nan=False)
    explanation: str = Field("", max_length=4000)
    hit_start: int | None = Field(None, ge=0, le=20000, strict=True,
                                  description="the matched words: characters [hit_start, hit_end) "
                                              "of transcript; both or neither")
    hit_end: int | None = Field(None, ge=1, le=20000, strict=True)

    @field_validator("at")
    @classmethod
    def _plausible_time(cls, at: datetime | None) -> datetime | None:
        if at is None:
            return None
        at = at.astimezone(UTC)
        if at < EARLIEST:
            raise ValueError("at is before 2000-01-01")
        if at > datetime.now(UTC) + MAX_CLOCK_SKEW:
            raise ValueError("at is more than a day in the future")
        return at

    @model_validator(mode="after")
    def _spans(self) -> IncidentIn:
        if self.end_s < self.offset_s:
            raise ValueError("end_s is before offset_s")
        if (self.hit_start is None) != (self.hit_end is None):
            given = "hit_start" if self.hit_end is None else "hit_end"
            other = "hit_end" if given == "hit_start" else "hit_start"
            raise ValueError(f"{given} without {other}: a hit span has both ends or neither")
        if self.hit_start is not None and self.hit_end is not None:
            if self.hit_end > len(self.transcript):
                raise ValueError(f"hit_end {self.hit_end} is past the end of the transcript "
                                 f"({len(self.transcript)} characters)")
            if self.hit_start >= self.hit_end:
                raise ValueError(f"hit_start {self.hit_start} must be before "
                                 f"hit_end {self.hit_end}")
        for name in ("offset_s", "end_s", "score", "deduction"):
            assert math.isfinite(getattr(self, name))
        return self


class IngestResult(BaseModel):
    id: str
    created: bool = Field(
        description="false: this incident was already stored (an idempotent retry)")
    status: ReviewStatus
    evidence: list[EvidenceRole]


class EvidencePublic(BaseModel):
    role: str
    media_type: str
    size: int
    url: str | None = Field(description="None once the retention job has purged the file")
    purged_at: datetime | None


class PersonRef(BaseModel):
    id: int
    name: str
    employee_no: str | None = None


class IncidentPublic(BaseModel):
    id: str
    source: str
    window_id: str
    window_number: str | None
    department: str | None
    center_id: int | None
    center_name: str | None
    staff: PersonRef | None
    kind: IncidentKind
    rule_id: str
    rule_name: str
    phrase: str | None
    speaker: Speaker
    offset_s: float
    end_s: float
    at: datetime | None
    received_at: datetime
    transcript: str
    hit_start: int | None
    hit_end: int | None
    score: float
    severity: Severity
    deduction: float
    explanation: str
    status: ReviewStatus
    review_reason: str | None
    reviewed_at: datetime | None
    appeal_reason: str | None
    appealed_at: datetime | None
    appeal_decision: AppealDecision | None
    appeal_decision_reason: str | None
    appeal_decided_at: datetime | None
    evidence: list[EvidencePublic]
    session_id: str | None = Field(None, description="the service session it happened in")


class IncidentsPublic(BaseModel):
    data: list[IncidentPublic]
    count: int


# ---------------------------------------------------------------- service sessions

MAX_SESSION_S = 7 * 24 * 3600
Seconds = Annotated[float, Field(ge=0, le=MAX_SESSION_S, allow_inf_nan=False)]  # or offsets


class SessionCheck(_Strict):
    """A check the session was judged by (etiquette.core.session_records.CheckOutcome)."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    kind: IncidentKind
    name: Name
    state: CheckState
    found: list[Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=list, max_length=100, description="what fired: phrases or rule names")


class SessionTurn(_Strict):
    """One utterance on the timeline; `text` null where it was not transcribed."""

    speaker: Speaker
    start_s: Seconds
    end_s: Seconds
    text: str | None = Field(None, max_length=4000)


class SessionIn(_Strict):
    """A session line of `etiquette batch` / the live outbox
    (etiquette.core.session_records.SessionRecord.to_json())."""

    kind: str = Field(SESSION_RECORD, pattern=f"^{SESSION_RECORD}$")
    id: uuid.UUID
    source: str = Field(min_length=1, max_length=1024)
    window_id: Code
    offset_s: Seconds
    end_s: Seconds
    start_at: RecentTime = Field(description="absolute UTC time of offset_s")
    end_at: RecentTime = Field(description="absolute UTC time of end_s")
    ticket: str | None = Field(None, min_length=1, max_length=32,
                               description="the 叫号 number called for this citizen")
    staff_talk_s: Seconds
    citizen_talk_s: Seconds
    checks: list[SessionCheck] = Field(default_factory=list, max_length=100)
    turns: list[SessionTurn] = Field(default_factory=list, max_length=5000)
    incident_ids: list[uuid.UUID] = Field(default_factory=list, max_length=2000)

    @model_validator(mode="after")
    def _spans(self) -> SessionIn:
        if self.end_s < self.offset_s or self.end_at < self.start_at:
            raise ValueError("the session ends before it starts")
        if any(t.end_s < t.start_s for t in self.turns):
            raise ValueError("an utterance of turns ends before it starts")
        return self


class SessionResult(BaseModel):
    id: str
    created: bool = Field(description="false: this session was already stored (a retry)")
    incidents: int = Field(description="the incidents linked to it")


class SessionSummary(BaseModel):
    id: str
    window_id: str
    window_number: str | None
    center_id: int | None
    center_name: str | None
    staff: PersonRef | None
    start_at: datetime
    end_at: datetime
    ticket: str | None
    staff_talk_s: float
    citizen_talk_s: float
    failed: list[str] = Field(description="the names of the checks it failed")
    incidents: int


class SessionPublic(SessionSummary):
    source: str
    offset_s: float
    end_s: float
    checks: list[SessionCheck]
    turns: list[SessionTurn]
    incident_list: list[IncidentPublic] = Field(
        description="the incidents of the session the reader may see, in time order")
    words_purged_at: datetime | None = Field(
        None, description="when the retention purge erased the utterances' text (turns' text "
                          "null since)")
    ratings: list[RatingPublic] = Field(
        default_factory=list, description="the ratings that rate it (readers of ratings only)")
    complaints: list[ComplaintRef] = Field(
        default_factory=list, description="the complaints the reader may see that found it "
                                          "(its window, around its time)")


class SessionsPublic(BaseModel):
    data: list[SessionSummary]
    count: int


class ReviewRequest(_Strict):
    action: ReviewAction
    reason: Reason | None = None

    @model_validator(mode="after")
    def _dismiss_needs_reason(self) -> ReviewRequest:
        if self.action == ReviewAction.DISMISS and not self.reason:
            raise ValueError("dismissing needs a reason")
        return self


IncidentIdStr = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class BulkReviewRequest(ReviewRequest):
    """One decision, with one reason, for several incidents (each reviewed as one)."""

    ids: list[IncidentIdStr] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _confirm_or_dismiss(self) -> BulkReviewRequest:
        if self.action == ReviewAction.REOPEN:
            raise ValueError("bulk review confirms or dismisses")
        return self


class BulkOutcome(BaseModel):
    id: str
    ok: bool
    status: ReviewStatus | None  # the incident's status after the attempt (None: not seen)
    detail: str | None  # why it was not done


class BulkReviewResult(BaseModel):
    data: list[BulkOutcome]
    done: int
    failed: int


class QueueCounts(BaseModel):
    pending: int  # incidents awaiting review that the caller may see
    appealed: int | None  # appeals awaiting a decision (None: not the caller's to decide)
    new: int | None  # of the list's filters, received after `since` (None: no `since` asked)


class AppealRequest(_Strict):
    reason: Reason


class AppealDecisionRequest(_Strict):
    decision: AppealDecision
    reason: Reason


# ---------------------------------------------------------------- master data


class CenterBase(_Strict):
    code: Code
    name: Name


class CenterCreate(CenterBase):
    pass


class CenterUpdate(_Strict):
    code: Code | None = None
    name: Name | None = None


class CenterPublic(CenterBase):
    id: int


class CentersPublic(BaseModel):
    data: list[CenterPublic]
    count: int


class WindowBase(_Strict):
    center_id: int = Field(ge=1, le=MAX_ID)
    code: Code = Field(description="the pipeline's window_id")
    number: Code = Field(description="窗口号")
    department: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    business_category: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    active: bool = True


class WindowCreate(WindowBase):
    pass


class WindowUpdate(_Strict):
    center_id: int | None = Field(None, ge=1, le=MAX_ID)
    code: Code | None = None
    number: Code | None = None
    department: Annotated[str, StringConstraints(strip_whitespace=True,
                                                 max_length=200)] | None = None
    business_category: Annotated[str, StringConstraints(strip_whitespace=True,
                                                        max_length=200)] | None = None
    active: bool | None = None


class WindowPublic(WindowBase):
    id: int


class WindowsPublic(BaseModel):
    data: list[WindowPublic]
    count: int


class StaffBase(_Strict):
    employee_no: Code = Field(description="工号")
    name: Name
    center_id: int | None = Field(None, ge=1, le=MAX_ID)
    active: bool = True


class StaffCreate(StaffBase):
    pass


class StaffUpdate(_Strict):
    employee_no: Code | None = None
    name: Name | None = None
    center_id: int | None = Field(None, ge=1, le=MAX_ID)
    active: bool | None = None


class StaffPublic(StaffBase):
    id: int
    has_photo: bool


class StaffListPublic(BaseModel):
    data: list[StaffPublic]
    count: int


def _after(earlier: datetime, later: datetime | None, message: str) -> None:
    """Refuses a time `later` (None: not given) that is not after `earlier`."""
    if later is not None and later <= earlier:
        raise ValueError(message)


class AssignmentBase(_Strict):
    staff_id: int = Field(ge=1, le=MAX_ID)
    window_pk: int = Field(ge=1, le=MAX_ID,
                           description="id of the window row (not the pipeline's window_id)")
    start_at: AwareDatetime
    end_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> AssignmentBase:
        _after(self.start_at, self.end_at, "end_at must be after start_at")
        return self


class AssignmentCreate(AssignmentBase):
    pass


class AssignmentUpdate(_Strict):
    end_at: AwareDatetime | None = None


class AssignmentPublic(AssignmentBase):
    id: int


class AssignmentsPublic(BaseModel):
    data: list[AssignmentPublic]
    count: int


class ImportResult(BaseModel):
    centers: int
    windows: int
    staff: int
    assignments: int


# ---------------------------------------------------------------- users, keys, audit

Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=64,
                                            pattern=r"^[A-Za-z0-9_.@-]+$")]
Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]


CenterIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(
    max_length=500, description="supervisors and auditors: the only centers they see (none: "
                                "every center)")]


class UserBase(_Strict):
    username: Username
    display_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    role: Role
    staff_id: int | None = Field(None, ge=1, le=MAX_ID,
                                 description="for role staff: the staff record")
    active: bool = True
    center_ids: CenterIds = []

    @model_validator(mode="after")
    def _staff_link(self) -> UserBase:
        if (self.role == Role.STAFF) != (self.staff_id is not None):
            raise ValueError("staff_id is required for role staff and only for it")
        return self


class UserCreate(UserBase):
    password: Password


class UserUpdate(_Strict):
    display_name: Annotated[str, StringConstraints(strip_whitespace=True,
                                                   max_length=100)] | None = None
    role: Role | None = None
    staff_id: int | None = Field(None, ge=1, le=MAX_ID)
    active: bool | None = None
    password: Password | None = None
    center_ids: CenterIds | None = Field(None, description="[]: every center again")


class UserPublic(BaseModel):
    id: int
    username: str
    display_name: str
    role: Role
    staff_id: int | None
    active: bool
    created_at: datetime
    center_ids: list[int] = Field(description="the only centers the user sees; []: every one")


class UsersPublic(BaseModel):
    data: list[UserPublic]
    count: int


class PasswordChange(_Strict):
    current_password: Password
    new_password: Password


class LoginRequest(_Strict):
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Password


class LoginResponse(BaseModel):
    user: UserPublic
    csrf_token: str = Field(description="send as X-CSRF-Token with every POST/PUT/PATCH/DELETE")


class ApiKeyCreate(_Strict):
    name: Name
    center_id: int | None = Field(None, ge=1, le=MAX_ID,
                                  description="incidents from this key belong to this center")


class ApiKeyPublic(BaseModel):
    id: int
    name: str
    prefix: str
    center_id: int | None
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None = Field(description="to the minute; null: never used")


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="shown once; store it in the pipeline's configuration")


class ApiKeysPublic(BaseModel):
    data: list[ApiKeyPublic]
    count: int


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditLogPublic(BaseModel):
    data: list[AuditEntryPublic]
    count: int


class RulePublic(BaseModel):
    id: str
    name: str
    kind: str  # required | forbidden
    group: str | None
    clause: str | None
    phrases: list[str]
    variants: list[str]
    severity: Severity | None
    deduction: float | None
    # Self-training: what a forbidden rule's speaker should have said (rules' `instead`).
    instead: str | None = Field(None, description="forbidden rules: the id of the required rule "
                                "whose phrase to say instead (None: the rules name none)")
    instead_phrase: str | None = Field(None, description="that required rule's standard phrase")


class RulesPublic(BaseModel):
    version: str
    source: str
    data: list[RulePublic]


MAX_RULES_YAML = 200_000  # characters; Appendix B is about 6,000


class RuleVersionCreate(_Strict):
    yaml: str = Field(min_length=1, max_length=MAX_RULES_YAML,
                      description="the whole rule set, in the format of rules/appendix_b.yaml")
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    based_on: int | None = Field(None, ge=1, le=MAX_ID,
                                 description="the version this edit started from; if another "
                                             "version was saved since, the save is refused (409)")


class RuleVersionSummary(BaseModel):
    id: int = Field(description="1, 2, 3…: the highest is the version in force")
    version: str = Field(description="the rule set's own `version:` label")
    sha256: str
    comment: str
    created_at: datetime
    created_by: str


class RuleVersionPublic(RuleVersionSummary):
    yaml: str


class RuleVersionsPublic(BaseModel):
    data: list[RuleVersionSummary]
    count: int


class Health(BaseModel):
    status: str
    detail: dict[str, str] = {}


class Message(BaseModel):
    detail: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for error statuses, each answered with a `Message`."""
    return {code: {"model": Message} for code in codes}


# ---------------------------------------------------------------- scoring and reports

MONTH_PATTERN = r"^2\d{3}-(0[1-9]|1[0-2])$"
PERIOD_PATTERN = r"^2\d{3}(-(0[1-9]|1[0-2])|-Q[1-4])?$"


class ScoringVersionCreate(_Strict):
    yaml: str = Field(min_length=1, max_length=MAX_RULES_YAML,
                      description="the whole scheme, in the format of rules/scoring.yaml")
    effective_from: str | None = Field(None, pattern=MONTH_PATTERN,
                                       description="first month it scores (YYYY-MM, the center's "
                                                   "time zone); default the current month; never "
                                                   "a month already past")
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    based_on: int | None = Field(None, ge=1, le=MAX_ID,
                                 description="the version this edit started from (409 if another "
                                             "was saved since)")


class ScoringVersionSummary(BaseModel):
    id: int
    version: str = Field(description="the scheme's own `version:` label")
    effective_from: str = Field(description="YYYY-MM: scores this month and later ones, until a "
                                            "version effective later")
    sha256: str
    comment: str
    created_at: datetime
    created_by: str


class ScoringVersionPublic(ScoringVersionSummary):
    yaml: str


class ScoringVersionsPublic(BaseModel):
    data: list[ScoringVersionSummary]
    count: int


class SchemeUsed(BaseModel):
    month: str
    version_id: int
    version: str


class WindowScore(BaseModel):
    rank: int
    window_pk: int
    center: str
    window_id: str
    number: str
    department: str
    score: float = Field(description="month: base minus deductions; quarter/year: mean of months")
    previous_score: float | None = Field(description="the same, over the previous period")
    change: float | None
    counted: int = Field(description="incidents that counted (confirmed or under appeal)")
    deducted: float
    bonus: float = Field(description="points of commendations (capped per month)")
    red_flag: bool
    disqualified_by: Severity | None = Field(description="a counted incident of this severity "
                                                         "barred it from the red flags")
    undecided: bool = Field(False, description="待定: the red-flag rule chooses it, but an "
                                               "incident of a disqualifying severity awaits "
                                               "review (undecided_reason); no red flag yet")
    undecided_reason: str | None = None
    tied: bool = Field(False, description="shares its rank with another window")
    ratings: int = Field(0, description="好差评 ratings of the period")
    poor: int = Field(0, description="差评: 不满意 and 非常不满意")
    poor_rate: float | None = Field(None, description="poor / ratings; None without ratings")
    disagrees: bool = Field(False, description="评价与监测不一致 (ReportPublic.agreement_rule)")


class StaffScore(BaseModel):
    rank: int
    staff_id: int
    name: str
    employee_no: str
    score: float
    previous_score: float | None
    change: float | None
    counted: int
    deducted: float
    bonus: float
    tied: bool = Field(False, description="shares its rank with another person")


class CountRow(BaseModel):
    key: str
    name: str
    counted: int = Field(description="incidents that counted")
    total: int = Field(description="every incident, pending and dismissed included")
    points: float = 0.0


class ReportPublic(BaseModel):
    period: str = Field(description="2026-11, 2026-Q4 or 2026")
    kind: str
    label: str
    previous_period: str
    public: bool = Field(description="the variant to publish: no staff, no personal data")
    center: str | None
    timezone: str
    generated_at: datetime
    schemes: list[SchemeUsed]
    red_flag_rule: str
    windows: list[WindowScore]
    staff: list[StaffScore]
    red_flags: list[WindowScore]
    undecided: list[WindowScore] = Field(default_factory=list,
                                         description="待定 windows (see WindowScore.undecided)")
    rank_rule: str = Field("", description="how equal scores are ranked")
    by_kind: list[CountRow]
    by_rule: list[CountRow]
    by_time: list[CountRow] = Field(description="weeks of a month or quarter; months of a year")
    incidents: int
    counted: int
    pending: int
    unattributed: int = Field(description="incidents of windows not in the master data")
    commendations: int = Field(description="commendations recorded in the period")
    ratings: int = Field(0, description="好差评 ratings of the period")
    agreement_rule: str = Field("", description="when a window's 差评 rate and its incidents "
                                                "are told to disagree")


# ---------------------------------------------------------------- alerts


class WebhookBase(_Strict):
    name: Name
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s\x00-\x1f]+$",
                     description="http(s) URL the service POSTs each matching incident to")
    kinds: list[IncidentKind] = Field(default_factory=list, max_length=10,
                                      description="the kinds to send; empty: every kind")
    severities: list[Severity] = Field(default_factory=lambda: [Severity.CRITICAL], max_length=3,
                                       description="the severities to send; empty: every one")
    active: bool = True


class WebhookCreate(WebhookBase):
    pass


class WebhookUpdate(_Strict):
    name: Name | None = None
    url: str | None = Field(None, min_length=8, max_length=2000, pattern=r"^https?://[^\s\x00-\x1f]+$")
    kinds: list[IncidentKind] | None = Field(None, max_length=10)
    severities: list[Severity] | None = Field(None, max_length=3)
    active: bool | None = None


class WebhookPublic(BaseModel):
    id: int
    name: str
    url: str
    kinds: list[IncidentKind]
    severities: list[Severity]
    active: bool
    created_at: datetime
    created_by: str


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="the HMAC-SHA256 key of X-Etiquette-Signature; shown only now")


class WebhooksPublic(BaseModel):
    data: list[WebhookPublic]
    count: int


class WebhookDeliveryPublic(BaseModel):
    id: int
    webhook_id: int
    incident_id: str
    status: str = Field(description="pending, delivered or failed (after the last retry)")
    attempts: int
    next_attempt_at: datetime
    last_error: str | None
    last_status_code: int | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookDeliveriesPublic(BaseModel):
    data: list[WebhookDeliveryPublic]
    count: int


# ---------------------------------------------------------------- staff self-training


class PracticePhrase(BaseModel):
    rule_id: str
    name: str
    clause: str
    phrase: str = Field(description="the standard phrase of Appendix B to say")
    variants: list[str]


class PracticePhrases(BaseModel):
    data: list[PracticePhrase]


class PracticeResult(BaseModel):
    id: int
    rule_id: str
    phrase: str
    transcript: str = Field(description="what the recogniser heard")
    recognised: bool
    score: float
    matched: str = Field(description="the words that matched the phrase")
    missed: list[str] = Field(description="words of the phrase that were not heard")
    duration_s: float
    created_at: datetime


class PracticeAttemptPublic(BaseModel):
    id: int
    rule_id: str
    phrase: str
    transcript: str
    recognised: bool
    score: float
    missed: list[str]
    duration_s: float
    created_at: datetime


class PracticeHistory(BaseModel):
    data: list[PracticeAttemptPublic]
    count: int


# ---------------------------------------------------------------- commendations


class CommendationCreate(_Strict):
    window_pk: int = Field(ge=1, le=MAX_ID, description="the window commended")
    staff_id: int | None = Field(None, ge=1, le=MAX_ID, description="the person; default whoever "
                                                                      "staffed the window at `at`")
    at: RecentTime = Field(description="when it was given; it counts in that (local) month")
    reason: Reason


class CommendationPublic(BaseModel):
    id: int
    window_pk: int
    window_number: str
    center: str
    staff_id: int | None
    staff_name: str | None
    at: datetime
    reason: str
    created_at: datetime
    created_by: str


class CommendationsPublic(BaseModel):
    data: list[CommendationPublic]
    count: int


# ---------------------------------------------------------------- 好差评 and complaints


class RatingLevel(StrEnum):
    """The five levels of the 好差评 evaluation device; the last two are 差评."""

    VERY_SATISFIED = "very_satisfied"  # 非常满意
    SATISFIED = "satisfied"  # 满意
    FAIRLY_SATISFIED = "fairly_satisfied"  # 基本满意
    DISSATISFIED = "dissatisfied"  # 不满意
    VERY_DISSATISFIED = "very_dissatisfied"  # 非常不满意


POOR_LEVELS = frozenset({RatingLevel.DISSATISFIED, RatingLevel.VERY_DISSATISFIED})
Ticket = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32,
                                          pattern=r"^[A-Za-z0-9-]+$")]


class RatingIn(_Strict):
    id: uuid.UUID = Field(description="the device's id of this rating: a retry sends the same")
    window_id: Code = Field(description="the window's code, as the pipeline sends it")
    at: RecentTime = Field(description="when the citizen rated")
    ticket: Ticket | None = Field(None, description="the 叫号 ticket the citizen was served on")
    level: RatingLevel
    comment: str | None = Field(None, max_length=2000)


class RatingPublic(BaseModel):
    id: str
    window_pk: int
    window_id: str
    window_number: str
    center: str
    at: datetime
    ticket: str | None
    level: RatingLevel
    level_name: str
    comment: str | None
    session_id: str | None = Field(description="the session it rates; None: none matched")
    received_at: datetime


class RatingResult(BaseModel):
    id: str
    created: bool = Field(description="false: this id was stored already (a retry)")
    session_id: str | None


class RatingsPublic(BaseModel):
    data: list[RatingPublic]
    count: int


class ComplaintChannel(StrEnum):
    ONSITE = "onsite"  # 现场
    PHONE = "phone"  # 电话
    ONLINE = "online"  # 网络
    SMS = "sms"  # 短信


class ComplaintStatus(StrEnum):
    PENDING = "pending"  # 待处理: no handler yet
    HANDLING = "handling"  # 处理中
    ANSWERED = "answered"  # 已答复
    OVERDUE = "overdue"  # 逾期: not answered by the deadline (read, never stored)


class ComplaintCreate(_Strict):
    window_pk: int = Field(ge=1, le=MAX_ID, description="the window complained of")
    channel: ComplaintChannel
    at: RecentTime = Field(description="when the service complained of happened")
    text: Reason = Field(description="the complainant's words")
    contact: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    deadline: AwareDatetime | None = Field(None, description="when it must be answered; default "
                                                             "`complaint_reply_days` from now "
                                                             "(one received earlier and "
                                                             "registered late may be past it)")

    @model_validator(mode="after")
    def _deadline_after_service(self) -> ComplaintCreate:
        _after(self.at, self.deadline, "deadline must be after at")
        return self


class ComplaintAssign(_Strict):
    handler_id: int = Field(ge=1, le=MAX_ID, description="a supervisor or admin of its center")


class ComplaintReply(_Strict):
    reply: Reason


class SessionMatch(BaseModel):
    """A service session at the complaint's window around its time."""

    id: str
    start_at: datetime
    end_at: datetime
    ticket: str | None
    staff_name: str | None
    url: str = Field(description="its page (timeline, transcript, incidents)")
    incidents: int


class ComplaintPublic(BaseModel):
    id: int
    center_id: int
    center: str
    window_pk: int
    window_number: str
    staff_id: int | None
    staff_name: str | None
    channel: ComplaintChannel
    channel_name: str
    at: datetime
    text: str
    contact: str | None
    status: ComplaintStatus = Field(description="overdue where the deadline passed unanswered")
    status_name: str
    overdue: bool
    handler_id: int | None
    handler_name: str | None
    deadline: datetime
    reply: str | None
    replied_at: datetime | None
    created_at: datetime
    created_by: str
    sessions: list[SessionMatch] = Field(default_factory=list,
                                         description="one complaint's read: its window's "
                                                     "sessions around its time")


class ComplaintRef(BaseModel):
    """A complaint that found a session, as the session's page lists it."""

    id: int
    at: datetime
    channel_name: str
    status: ComplaintStatus
    status_name: str
    url: str


class ComplaintsPublic(BaseModel):
    data: list[ComplaintPublic]
    count: int


# ---------------------------------------------------------------- the hall (大厅态势)


class Seat(StrEnum):
    """What a window's camera sees at the staff seat (etiquette.live.presence.SeatState)."""

    PRESENT = "present"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class HallStatus(StrEnum):
    OK = "ok"
    WARN = "warn"  # working with a problem (a degraded input)
    ALERT = "alert"  # an input down, no picture, or no heartbeat
    OFFLINE = "offline"  # never heard from (未接入)


Component = Annotated[str, StringConstraints(min_length=1, max_length=32,
                                             pattern=r"^[a-z_]+$")]


class AudioBeat(_Strict):
    state: HealthState
    level_dbfs: float = Field(ge=-200, le=20, description="the loudest channel of the last block")
    stream_s: float = Field(ge=0, le=1e9, description="seconds of audio read since the start")


class CameraBeat(_Strict):
    seat: Seat
    fps: float = Field(ge=0, le=1000, description="frames looked at per second, recently")


class WindowBeat(_Strict):
    """One window's state, as the live site's /health shows it."""

    audio: AudioBeat | None = Field(None, description="none: the window has no microphone")
    camera: CameraBeat | None = Field(None, description="none: the window has no camera")
    session_open: bool = False
    problems: dict[Component, HealthState] = Field(default_factory=dict, max_length=16,
                                                  description="components not OK, by name")


class HeartbeatIn(_Strict):
    interval_s: float = Field(ge=0.5, le=300, description="the site sends a beat this often")
    windows: dict[Code, WindowBeat] = Field(max_length=500, description="by window code")


class HeartbeatResult(BaseModel):
    accepted: list[str]
    unknown: list[str] = Field(description="codes of no window of the key's center (or of none)")
    refused: list[str] = Field(description="windows of another center than the key's")


class HallIncident(BaseModel):
    id: str
    kind: str
    kind_name: str
    rule_name: str
    severity: str
    at: datetime
    url: str


class HallWindow(BaseModel):
    window_pk: int
    code: str
    number: str
    department: str
    staff_name: str | None = Field(description="on duty now (assignments)")
    status: HallStatus
    status_name: str
    reasons: list[str] = Field(description="why it is not OK, in Chinese")
    last_beat_at: datetime | None
    beat_age_s: float | None
    stale: bool
    seat: Seat | None
    seat_name: str | None
    seat_for_s: float | None = Field(description="seconds the seat has been as it is")
    audio: AudioBeat | None
    camera: CameraBeat | None
    session_open: bool | None
    last_incident: HallIncident | None = Field(description="today's latest")
    today: dict[str, int] = Field(description="today's incidents by kind (display time zone)")
    today_total: int


class HallCenter(BaseModel):
    id: int
    code: str
    name: str
    counts: dict[HallStatus, int]
    windows: list[HallWindow]


class HallPublic(BaseModel):
    at: datetime
    day: str = Field(description="today in the display time zone")
    kind_names: dict[str, str] = Field(description="the incident kinds' Chinese names")
    centers: list[HallCenter]
