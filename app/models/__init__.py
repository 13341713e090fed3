"""SQLAlchemy models, one module per aggregate."""
from app.models.capture import (
    ApiKey, CaptureForm, IdempotencyRecord, ImportChunk, ImportRejection, LeadImport, LeadMerge,
)
from app.models.lead import Lead, Note, TimelineEntry
from app.models.stage import Stage, StageKind
from app.models.user import LoginThrottle, Role, User, UserSession

__all__ = [
    "ApiKey", "CaptureForm", "IdempotencyRecord", "ImportChunk", "ImportRejection", "LeadImport", "LeadMerge",
    "Lead", "LoginThrottle", "Note", "Role", "Stage", "StageKind", "TimelineEntry", "User", "UserSession",
]
