/* Leadboard's only script: paints stage colours, wires SortableJS to htmx, shows notices, keeps focus sane.
   No inline scripts anywhere (the CSP forbids them), so everything hangs off data- attributes. */
(function () {
  "use strict";

  var lastMovedLead = null;

  function flash(message, category) {
    var area = document.getElementById("flash");
    if (!area) return;
    var p = document.createElement("p");
    p.className = "flash flash-" + (category || "info");
    p.textContent = message;
    area.replaceChildren(p);
  }

  function paint(root) {
    root.querySelectorAll("[data-colour]").forEach(function (el) {
      el.style.setProperty("--stage-colour", el.dataset.colour);
    });
    if (root.dataset && root.dataset.colour) root.style.setProperty("--stage-colour", root.dataset.colour);
  }

  function previousCard(card) {
    var prev = card.previousElementSibling;
    while (prev && !prev.classList.contains("card")) prev = prev.previousElementSibling;
    return prev;
  }

  function initBoard(root) {
    root.querySelectorAll(".cards[data-stage-id]").forEach(function (list) {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "1";
      Sortable.create(list, {
        group: "board",
        draggable: ".card",
        filter: ".load-more, details, select, button, input",
        preventOnFilter: false,
        animation: 120,
        delayOnTouchOnly: true,
        delay: 150,
        onEnd: function (evt) {
          if (evt.from === evt.to && evt.oldIndex === evt.newIndex) return;
          var board = document.getElementById("board");
          var card = evt.item;
          var after = previousCard(card);
          lastMovedLead = card.dataset.leadId;
          htmx.ajax("POST", board.dataset.moveUrl, {
            source: board,
            swap: "none",
            values: {
              lead_id: card.dataset.leadId,
              stage_id: evt.to.dataset.stageId,
              after_id: after ? after.dataset.leadId : "",
              version: card.dataset.version,
              from_stage_id: evt.from.dataset.stageId,
              owner: board.dataset.owner || "",
              shown: evt.to.querySelectorAll(".card").length
            }
          });
        }
      });
    });
  }

  function initStageList(root) {
    var list = root.querySelector ? root.querySelector("#stage-list") : null;
    if (!list && root.id === "stage-list") list = root;
    if (!list || list.dataset.sortable) return;
    list.dataset.sortable = "1";
    Sortable.create(list, {
      handle: ".drag-handle",
      animation: 120,
      onEnd: function (evt) {
        if (evt.oldIndex === evt.newIndex) return;
        var wrap = document.getElementById("stage-list-wrap");
        var ids = Array.prototype.map.call(list.querySelectorAll("[data-stage-id]"), function (li) {
          return li.dataset.stageId;
        });
        htmx.ajax("POST", wrap.dataset.orderUrl, {
          source: wrap, target: "#stage-list-wrap", swap: "outerHTML", values: {stage_ids: ids}
        });
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    htmx.onLoad(function (root) {
      paint(root);
      initBoard(root);
      initStageList(root);
    });

    document.body.addEventListener("leadboard:notice", function (evt) {
      flash(evt.detail.message, evt.detail.category);
    });

    // Keyboard "Move to…": remember which card moved so focus can follow it into the refreshed column.
    document.body.addEventListener("htmx:beforeRequest", function (evt) {
      var form = evt.detail.elt;
      var lead = form.tagName === "FORM" && form.closest(".move-to") && form.querySelector("[name=lead_id]");
      if (lead) lastMovedLead = lead.value;
    });

    document.body.addEventListener("htmx:afterSettle", function () {
      if (lastMovedLead) {
        var link = document.querySelector("#card-" + lastMovedLead + " .card-title");
        if (link) {
          link.focus();
          lastMovedLead = null;
        }
      }
      var marker = document.querySelector("[data-focus]");
      if (marker) {
        var target = document.getElementById(marker.dataset.focus);
        marker.remove();
        if (target && !target.disabled) target.focus();
        else {
          var item = target && target.closest("li");
          if (item) item.querySelector("button:not([disabled])").focus();
        }
      }
    });

    document.body.addEventListener("htmx:responseError", function () {
      flash("Something went wrong on our side, so that change was not saved. Try again in a moment.", "error");
    });
    document.body.addEventListener("htmx:sendError", function () {
      flash("Leadboard could not be reached. Check your connection; nothing was changed.", "error");
    });
  });
})();
