"""Demo data: a realistic team, pipeline and leads, bulk-inserted so 100,000 leads take seconds."""
from __future__ import annotations

import random
from datetime import timedelta, timezone
from decimal import Decimal

from faker import Faker
from sqlalchemy import case, func, insert, select, text, update

from app.extensions import db
from app.models import Lead, Note, Stage, TimelineEntry, User
from app.services import appointment_emails, appointments, atomic, search, utcnow
from app.services.auth import hash_password
from app.services.closing import CLOSED_KINDS
from app.services.stages import ensure_default_pipeline

DEMO_ADMIN = "admin@example.com"
SOURCES = ("Website", "Referral", "LinkedIn", "Trade show", "Cold call", "Google Ads", "Newsletter", "Partner")
STAGE_WEIGHTS = {"New": 30, "Contacted": 22, "Qualified": 15, "Appointment set": 10, "Won": 8, "Lost": 15}
CHUNK = 5000


def has_users() -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(User)))


def seed(leads: int, admin_password: str, seed_value: int = 7) -> dict:
    """Create the demo admin, four members, the default pipeline and `leads` leads with history."""
    fake = Faker()
    Faker.seed(seed_value)
    stages = ensure_default_pipeline()
    with atomic():
        # One hash for everyone: Argon2 is deliberately slow, and these are throwaway demo accounts.
        password_hash = hash_password(admin_password)
        team = [User(email=DEMO_ADMIN, name="Alex Admin", role="admin", password_hash=password_hash)]
        for _ in range(4):
            name = fake.unique.name()
            team.append(User(email=f"{name.split()[0].lower()}.{name.split()[-1].lower()}@example.com",
                             name=name, role="member", password_hash=password_hash))
        db.session.add_all(team)
    bulk_leads(leads, [u.id for u in team], stages, fake=fake, rng=random.Random(seed_value))
    appointments = seed_appointments(team[0].id, rng=random.Random(seed_value))
    seed_workflow(team, stages, rng=random.Random(seed_value))
    seed_nurture(team[0].id)
    return {"users": len(team), "leads": leads, "appointments": appointments}


COUNTRIES = ("US", "US", "US", "GB", "DE", "CA", "FR", "AU", "NL", None)


def seed_workflow(team: list[User], stages: list[Stage], rng: random.Random | None = None) -> None:
    """What a team sets up in its first week, through the real services, so every page has something
    to show: countries on the leads, scoring rules (and every lead scored), a stale setting, business
    hours with a first-response target, and a few tasks per person (overdue, today, later)."""
    from app.services import scoring, sla, stages as stage_service, tasks  # noqa: PLC0415 (they import this module's neighbours)
    rng = rng or random.Random(7)
    with atomic():  # one set-based statement, as bulk_leads writes
        db.session.execute(update(Lead).values(country=case(
            *[(Lead.id % len(COUNTRIES) == n, code) for n, code in enumerate(COUNTRIES)], else_=None)))
        search.changed(db.session.scalars(select(Lead.id)))
    for label, condition, points in (
            ("Business email", {"field": "email", "op": "is_not_free_mail"}, 15),
            ("Came by referral", {"field": "source", "op": "equals", "value": "Referral"}, 20),
            ("Deal of 20,000 or more", {"field": "value", "op": "gte", "value": "20000"}, 25),
            ("Met at a trade show", {"field": "source", "op": "equals", "value": "Trade show"}, 10),
            ("No company given", {"field": "company", "op": "is_empty"}, -10)):
        scoring.save_rule(None, label=label, condition=condition, points=points, actor_id=team[0].id)
    run = scoring.current_run()
    if run is not None:
        scoring.run_rescore(run.id)  # now, rather than waiting for a worker
    contacted = next((s for s in stages if s.name == "Contacted"), None)
    if contacted is not None:
        stage_service.update_stage(contacted.id, contacted.name, contacted.colour, contacted.kind, stale_days=14,
                                   actor_id=team[0].id)
    # the admin sets the team up: the audit log names them, not the command line
    sla.save_calendar({day: "09:00-17:00" for day in range(5)}, "", actor_id=team[0].id)
    sla.add_rule(match="any", value=None, amount="1", unit="hours", business_time=True, on_breach="nothing",
                 actor_id=team[0].id)
    now = utcnow()
    for person in team:
        lead_ids = db.session.scalars(select(Lead.id).join(Lead.stage).where(
            Lead.owner_id == person.id, Stage.kind == "open").order_by(Lead.id).limit(3)).all()
        plans = (("call", "Call back about the quote", -timedelta(hours=2)),
                 ("email", "Send the case study", timedelta(hours=rng.randint(1, 6))),
                 ("meeting", "Prepare the demo", timedelta(days=rng.randint(2, 6))))
        for lead_id, (kind, title, offset) in zip(lead_ids, plans):
            tasks.create_task(lead_id, person.id, title=title, kind=kind, due_at=now + offset, now=now - timedelta(hours=3))


def seed_nurture(admin_id: int, enrol: int = 20) -> None:
    """Two email templates and a running nurture sequence (an email, a call for the owner two
    working days later, a last email a week on, on weekdays 9:00-17:00), enrolling newsletter
    sign-ups by rule, with a few open leads in it, so Settings → Sequences and the lead page show one."""
    from app.services import email_templates, sequences  # noqa: PLC0415 (they import this module's neighbours)
    from app.services.sequences import StepSettings
    hello = email_templates.create_template(email_templates.TemplateSettings(
        name="First follow-up", subject="Thanks for your interest, {{ lead.first_name }}",
        body_html="<p>Hi {{ lead.first_name }},</p><p>Thanks for getting in touch. Would a short call this week "
                  "help? Just reply with a time that suits you.</p><p>{{ owner.signature }}</p>"), admin_id)
    later = email_templates.create_template(email_templates.TemplateSettings(
        name="Checking in", subject="Still looking, {{ lead.first_name }}?",
        body_html="<p>Hi {{ lead.first_name }},</p><p>Checking in: is this still on your list? Happy to help "
                  "whenever you are ready.</p><p>{{ owner.signature }}</p>"), admin_id)
    sequence = sequences.create_sequence("New lead nurture", actor_id=admin_id)
    window = {"window_days": "01234", "window_start": 9 * 60, "window_end": 17 * 60}
    sequences.add_step(sequence.id, StepSettings(template_id=hello.id, **window), actor_id=admin_id)
    sequences.add_step(sequence.id, StepSettings(kind="task", task_title="Call", delay_days=2, business_days=True),
                       actor_id=admin_id)
    sequences.add_step(sequence.id, StepSettings(template_id=later.id, delay_days=7, **window), actor_id=admin_id)
    sequences.add_rule(sequence.id, "source", "Newsletter", actor_id=admin_id)
    sequences.start(sequence.id, actor_id=admin_id)
    lead_ids = db.session.scalars(select(Lead.id).join(Lead.stage).where(
        Stage.kind == "open", Lead.email.is_not(None), Lead.owner_id.is_not(None)).order_by(Lead.id.desc()).limit(enrol)).all()
    sequences.enrol_many(list(lead_ids), sequence.id, admin_id)


def seed_appointments(admin_id: int, count: int = 6, rng: random.Random | None = None) -> int:
    """Book a few appointments on the admin's leads through the real services, and answer some as
    their prospects would, so the board's badges, the notifications and the outbox have something
    to show. Their emails wait in the outbox until the worker delivers them."""
    rng = rng or random.Random(7)
    lead_ids = db.session.scalars(select(Lead.id).join(Lead.stage).where(Stage.kind == "open", Lead.email.is_not(None))
                                  .order_by(Lead.id).limit(count)).all()
    answers = ["confirm", "confirm", "reschedule", "cancel", None, None]
    for n, lead_id in enumerate(lead_ids):
        with atomic():
            db.session.get(Lead, lead_id).owner_id = admin_id
        starts = (utcnow() + timedelta(days=rng.randint(1, 10), hours=rng.randint(0, 8))).replace(
            minute=rng.choice((0, 30)), second=0, microsecond=0)
        appointment = appointments.book_appointment(
            lead_id, admin_id, starts_at=starts.replace(tzinfo=timezone.utc), duration_minutes=rng.choice((30, 45, 60)),
            location=rng.choice(("https://meet.example.com/demo", "Our office, 5th floor", "Phone call")),
            note="Looking forward to walking you through Leadboard.")
        action = answers[n % len(answers)]
        if action:
            appointments.answer(appointment_emails.link_token(appointment, action), action,
                                "Could we do a morning next week instead?" if action == "reschedule" else None)
    return len(lead_ids)


def bulk_leads(count: int, owner_ids: list[int], stages: list[Stage], *, fake: Faker | None = None,
               rng: random.Random | None = None, notes: bool = True) -> None:
    """Insert `count` leads with created/claimed/stage timeline entries, in chunks, bypassing the ORM."""
    fake, rng = fake or Faker(), rng or random.Random(7)
    # Faker is slow per call; draw pools once and combine them, which reads just as real.
    firsts = [fake.first_name() for _ in range(400)]
    lasts = [fake.last_name() for _ in range(600)]
    companies = [fake.company() for _ in range(800)]
    titles = [fake.job() for _ in range(200)]
    weights = [STAGE_WEIGHTS.get(s.name, 10) for s in stages]
    now = utcnow()
    next_id = (db.session.scalar(select(func.max(Lead.id))) or 0) + 1
    first_stage = stages[0]
    for start in range(0, count, CHUNK):
        leads, entries, note_rows = [], [], []
        for i in range(start, min(count, start + CHUNK)):
            lead_id = next_id + i
            stage = rng.choices(stages, weights)[0]
            owned = owner_ids and (rng.random() > 0.3 or stage is not first_stage)
            owner_id = rng.choice(owner_ids) if owned else None
            first, last = rng.choice(firsts), rng.choice(lasts)
            company = rng.choice(companies)
            created = now - timedelta(minutes=rng.randint(30, 90 * 24 * 60))
            entered = created + (now - created) * rng.random() if stage is not first_stage else created
            domain = "".join(ch for ch in company.lower() if ch.isalnum())[:20] or "example"
            # A lead someone worked was answered first by its owner: in minutes, hours or a day or two.
            answered = owner_id is not None and stage is not first_stage
            wait = rng.choice((rng.randint(30, 300), rng.randint(300, 3600), rng.randint(3600, 2 * 86400)))
            wait = min(wait, max(int((now - created).total_seconds()), 1))
            leads.append({
                "id": lead_id, "first_name": first, "last_name": last,
                "email": f"{first.lower()}.{last.lower()}{lead_id}@{domain}.example",
                "phone": f"+1415{rng.randint(2000000, 9999999)}", "company": company,
                "job_title": rng.choice(titles), "source": rng.choice(SOURCES),
                "value": Decimal(rng.randrange(500, 50000, 250)), "owner_id": owner_id, "stage_id": stage.id,
                "position": -lead_id * 1024, "version": 1, "created_at": created, "updated_at": entered,
                "stage_entered_at": entered,
                "first_response_at": created + timedelta(seconds=wait) if answered else None,
                "first_response_seconds": wait if answered else None,
                "first_response_by_id": owner_id if answered else None,
                "closed_on": entered.date() if stage.kind in CLOSED_KINDS else None,
                # As its timeline says: captured into the first stage, moved straight to this one.
                "reached_stage_id": first_stage.id if stage.kind in CLOSED_KINDS else stage.id,
            })
            entries.append({"lead_id": lead_id, "actor_id": None, "kind": "created", "created_at": created,
                            "data": {"via": rng.choice(("web form", "CSV import", "manual entry")), "stage": first_stage.name}})
            if owner_id is not None:
                entries.append({"lead_id": lead_id, "actor_id": owner_id, "kind": "claimed", "data": {},
                                "created_at": created + (entered - created) / 3})
            if stage is not first_stage:
                entries.append({"lead_id": lead_id, "actor_id": owner_id, "kind": "stage_changed",
                                "data": {"from": first_stage.name, "to": stage.name}, "created_at": entered})
            if notes and rng.random() < 0.25:
                body = fake.sentence(nb_words=14)
                at = created + (now - created) * rng.random()
                note_rows.append({"lead_id": lead_id, "author_id": owner_id, "body": body, "created_at": at})
                entries.append({"lead_id": lead_id, "actor_id": owner_id, "kind": "note", "data": {"body": body},
                                "created_at": at})
        with atomic():
            # render_nulls keeps each chunk one batch: otherwise SQLAlchemy splits a batch wherever
            # neighbouring rows differ in which columns are None (tens of thousands of statements).
            db.session.execute(insert(Lead).execution_options(render_nulls=True), leads)
            db.session.execute(insert(TimelineEntry).execution_options(render_nulls=True), entries)
            if note_rows:
                db.session.execute(insert(Note).execution_options(render_nulls=True), note_rows)
            search.changed(row["id"] for row in leads)  # their search documents, before this chunk commits
    if db.engine.dialect.name == "postgresql":  # explicit ids leave the sequence behind
        with atomic():
            db.session.execute(text("SELECT setval(pg_get_serial_sequence('leads', 'id'), "
                                    "(SELECT coalesce(max(id), 1) FROM leads))"))
