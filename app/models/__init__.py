"""SQLAlchemy models, one module per aggregate."""
from app.models.audit import AuditEntry
from app.models.automation import (
    Automation, AutomationBackfill, AutomationCursor, AutomationOccurrence, AutomationRun, AutomationWait,
)
from app.models.assignment import (
    AssignmentGroup, AssignmentGroupMember, AssignmentRule, AssignmentTally, AssignmentTurn, Target,
)
from app.models.capture import (
    ApiKey, CaptureForm, IdempotencyRecord, ImportChunk, ImportRow, LeadImport, LeadMerge,
)
from app.models.appointment import Appointment, AppointmentStatus, Notification, NotificationPreference, TeamSettings
from app.models.email import EmailState, OutboxEmail
from app.models.erasure import Erasure
from app.models.email_template import EmailTemplate
from app.models.fields import CustomField, FieldKind, LeadFieldChoice, LeadFieldValue
from app.models.held_submission import HeldSubmission
from app.models.lead import Activity, Lead, Note, StageTotal, StageTotalDelta, TimelineEntry
from app.models.search import LeadSearchDocument, SavedView
from app.models.scoring import ScoreBand, ScoringRule, ScoringRun
from app.models.sequence import (
    EnrolmentStatus, Sequence, SequenceBulkRun, SequenceEnrolment, SequenceRule, SequenceSend, SequenceStatus, SequenceStep,
    StepKind,
)
from app.models.settings_version import SettingsVersion
from app.models.sla import BusinessHours, Holiday, SlaRule
from app.models.stage import LostReason, Stage, StageKind
from app.models.suppression import InstallationSecret, SuppressedAddress, SuppressionReason
from app.models.tags import LeadTag, Tag
from app.models.task import Task, TaskKind
from app.models.webhook import DeliveryState, WebhookDelivery, WebhookEndpoint
from app.models.user import Invitation, KnownSignInAddress, LoginThrottle, Role, User, UserSession, WorkingHours

__all__ = [
    "AuditEntry", "Automation", "AutomationBackfill", "AutomationCursor", "AutomationOccurrence", "AutomationRun",
    "AutomationWait", "Erasure",
    "AssignmentGroup", "AssignmentGroupMember", "AssignmentRule", "AssignmentTally", "AssignmentTurn", "Target",
    "Appointment", "AppointmentStatus", "EmailState", "EmailTemplate", "Notification", "NotificationPreference", "OutboxEmail", "TeamSettings",
    "ApiKey", "CaptureForm", "IdempotencyRecord", "ImportChunk", "ImportRow", "LeadImport", "LeadMerge",
    "EnrolmentStatus", "Sequence", "SequenceBulkRun", "SequenceEnrolment", "SequenceRule", "SequenceSend",
    "SequenceStatus", "SequenceStep", "StepKind",
    "CustomField", "FieldKind", "LeadFieldChoice", "LeadFieldValue",
    "Activity", "BusinessHours", "Holiday", "SlaRule", "HeldSubmission", "Invitation", "LeadSearchDocument", "SavedView", "KnownSignInAddress", "Lead", "LeadTag", "LoginThrottle", "LostReason", "Note", "Role", "ScoreBand", "ScoringRule", "ScoringRun", "SettingsVersion", "Stage", "StageKind", "StageTotal", "StageTotalDelta", "InstallationSecret", "SuppressedAddress", "SuppressionReason", "Tag", "Task", "TaskKind", "TimelineEntry", "User", "DeliveryState", "WebhookDelivery", "WebhookEndpoint", "UserSession", "WorkingHours",
]
