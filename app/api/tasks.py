"""/api/v1 tasks: a lead's open tasks, and adding one. The API acts as no one in particular (actor
None), as it does for leads; the service writes the lead's timeline and its next-task time."""
from __future__ import annotations

from flask import jsonify

from app.api.contract import MAX_ID, NoQuery, Task, TaskCreate, TaskList
from app.api.openapi import Reply, operation
from app.api.representation import task_json
from app.services import tasks as service
from app.services.leads import LeadNotFound, get_lead

LIST_MAX = 200


@operation("POST", "/leads/<int:lead_id>/tasks", "createTask", "Add a follow-up task to a lead", (
               Reply(201, Task, "The task was added."),
           ), body=TaskCreate, not_found="NotFound", example={
               "title": "Call back about the quote", "kind": "call", "due_at": "2026-12-08T09:00:00+01:00"})
def create_task(lead_id: int, body: TaskCreate):
    lead = _lead(lead_id)
    task = service.create_task(lead.id, None, title=body.title, kind=body.kind, owner_id=body.owner_id,
                               due_at=service.due_from_aware(body.due_at), note=body.note or "")
    return jsonify(task_json(task)), 201


@operation("GET", "/leads/<int:lead_id>/tasks", "listTasks", "A lead's open tasks, soonest due first",
           (Reply(200, TaskList, "The lead's open tasks."),), query=NoQuery, not_found="NotFound")
def list_tasks(lead_id: int, query: NoQuery):
    lead = _lead(lead_id)
    tasks, _ = service.open_for_lead(lead.id, limit=LIST_MAX)
    return jsonify({"data": [task_json(task) for task in tasks]})


def _lead(lead_id: int):
    if lead_id > MAX_ID:  # larger than any id the database can hold
        raise LeadNotFound()
    return get_lead(lead_id)
