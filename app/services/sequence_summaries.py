"""The list of sequences at /settings/sequences: each one's step count and headline figures, read for
all sequences at once (sequences.figures reads one sequence in full, for its own page)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from app.extensions import db
from app.models import EnrolmentStatus, Sequence, SequenceEnrolment, SequenceStep
from app.services import sequences


@dataclass
class Summary:
    sequence: Sequence
    steps: int = 0
    enrolled: int = 0
    active: int = 0
    finished: int = 0
    stopped: int = 0
    booked_after: int = 0


def summaries() -> list[Summary]:
    """Every sequence (by name) with its figures: two grouped reads whatever the number of sequences
    (ix_sequence_enrolments_figures, ix_sequence_steps_sequence)."""
    found = {s.id: Summary(s) for s in sequences.sequences()}
    if not found:
        return []
    for sequence_id, count in db.session.execute(
            select(SequenceStep.sequence_id, func.count()).where(SequenceStep.removed_at.is_(None))
            .group_by(SequenceStep.sequence_id)):
        if sequence_id in found:
            found[sequence_id].steps = count
    for sequence_id, status, reason, count in db.session.execute(
            select(SequenceEnrolment.sequence_id, SequenceEnrolment.status, SequenceEnrolment.stop_reason, func.count())
            .group_by(SequenceEnrolment.sequence_id, SequenceEnrolment.status, SequenceEnrolment.stop_reason)):
        summary = found.get(sequence_id)
        if summary is None:
            continue
        summary.enrolled += count
        if status in (EnrolmentStatus.active.value, EnrolmentStatus.paused.value):  # paused: still in it
            summary.active += count
        elif status == EnrolmentStatus.finished.value:
            summary.finished += count
        elif status == EnrolmentStatus.stopped.value:
            summary.stopped += count
            if reason == "booked":
                summary.booked_after += count
    return list(found.values())
