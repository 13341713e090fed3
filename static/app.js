/* Leadboard's only script: paints stage colours, wires SortableJS to htmx, keeps the pool's state, keeps focus sane.
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
      var board = document.getElementById("board");
      Sortable.create(list, {
        group: "board",
        // Sorted by score, a card's place in its column is its score: it can change column, not place.
        sort: !(board && board.dataset.sort === "score"),
        draggable: ".card",
        filter: ".load-more, details, select, button, input",
        preventOnFilter: false,
        animation: 120,
        delayOnTouchOnly: true,
        delay: 150,
        // Near the board's edge a dragged card scrolls it (the board scrolls in its own box).
        scroll: true,
        forceAutoScrollFallback: true,
        scrollSensitivity: 90,
        scrollSpeed: 18,
        bubbleScroll: true,
        // Scroll snapping would pull each small auto-scroll step back: off while a card is dragged.
        onStart: function () {
          var box = document.getElementById("board");
          if (box) box.classList.add("is-dragging");
        },
        onEnd: function (evt) {
          var box = document.getElementById("board");
          if (box) box.classList.remove("is-dragging");
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
              view: board.dataset.view || "",
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

  // The pool's filter form holds the table's whole state (search, filters, sort, page) and sends
  // every request for it, one at a time (hx-sync replace): a sort or pager click sets the state and
  // submits, so a search still waiting out its typing delay can't race it with an older state.
  var PAGER_FIELDS = ["after", "before", "last"];

  function poolState(form) {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (value !== "") params.append(name, value);
    });
    return params.toString();
  }

  // Back to the first page: the pager's cursor names a place in one filter and sort only.
  function firstPage(form) {
    PAGER_FIELDS.forEach(function (name) { form.elements[name].value = ""; });
  }

  function poolForm() {
    return document.getElementById("pool-filters");
  }

  // Listeners hang off the document, so they survive the body being swapped by a history restore.
  function initPool() {
    // Capture phase: reset the page before htmx's own listener sends the changed filter.
    ["input", "change"].forEach(function (type) {
      document.addEventListener(type, function (evt) {
        var form = poolForm();
        if (form && evt.target.form === form && evt.target.type !== "hidden") firstPage(form);
      }, true);
    });
    document.addEventListener("click", function (evt) {
      var form = poolForm();
      var link = form && evt.target.closest && evt.target.closest("#lead-table [data-pool-sort], #lead-table [data-pool-page]");
      if (!link || evt.ctrlKey || evt.metaKey || evt.shiftKey || evt.button !== 0) return;
      evt.preventDefault();
      firstPage(form);
      if (link.dataset.poolSort) {
        form.elements.sort.value = link.dataset.poolSort;
        form.elements.dir.value = link.dataset.poolDir;
      } else {  // a pager link: its address carries the cursor of the page it shows
        var target = new URL(link.href).searchParams;
        PAGER_FIELDS.forEach(function (name) {
          form.elements[name].disabled = false;  // sent from now on (see the template)
          form.elements[name].value = target.get(name) || "";
        });
      }
      htmx.trigger(form, "submit");
    });
    // One request and one history entry per state: the delayed search firing after a click that
    // already sent the same state sends nothing.
    document.addEventListener("htmx:confirm", function (evt) {
      var form = poolForm();
      if (!form || evt.detail.elt !== form) return;
      var state = poolState(form);
      if (state === form.dataset.sent) evt.preventDefault();
      else form.dataset.sent = state;
    });
    document.addEventListener("htmx:configRequest", function (evt) {
      var form = poolForm();
      if (!form || evt.detail.elt !== form) return;
      Array.from(new FormData(form).entries()).forEach(function (pair) {
        if (pair[1] === "") evt.detail.parameters.delete(pair[0]);
      });
    });
    ["htmx:responseError", "htmx:sendError"].forEach(function (type) {
      document.addEventListener(type, function (evt) {
        var form = poolForm();
        if (form && evt.detail.elt === form) form.dataset.sent = "";
      });
    });
  }

  // A card move re-renders both columns it touches: as long as they are now, so a column opened
  // with "Show more" stays open (drag and the "Move to…" menu both post here).
  document.addEventListener("htmx:configRequest", function (evt) {
    var board = document.getElementById("board");
    if (!board || evt.detail.verb !== "post" || evt.detail.path !== board.dataset.moveUrl) return;
    var params = evt.detail.parameters;
    var count = function (stageId) {
      var cards = board.querySelector('.cards[data-stage-id="' + stageId + '"]');
      return cards ? cards.querySelectorAll(".card").length : 0;
    };
    params.set("shown", Math.max(count(params.get("from_stage_id")), count(params.get("stage_id")) + 1));
  });

  // The element a [data-focus] marker names (or its row's first live button) takes focus; true if one did.
  function focusMarked() {
    var marker = document.querySelector("[data-focus]");
    if (!marker) return false;
    var target = document.getElementById(marker.dataset.focus);
    marker.remove();
    if (!target) return true;
    var live = "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, textarea";
    // A row or form names no control itself: its first live control takes focus.
    var control = target.matches(live + ", [tabindex]") ? target : target.querySelector(live);
    var closed = target.closest("details:not([open])");
    if (closed) closed.open = true;  // what it names is inside a folded section (a new secret): unfold it
    if (!control && target.disabled) {
      var item = target.closest("li");
      control = item && item.querySelector("button:not([disabled])");
    }
    if (control) control.focus();
    return true;
  }

  // A form swapped back refused (422) took the focused control with it: focus goes to its first
  // field marked invalid, or, after a save swapped in place, stays on the page instead of the body.
  function focusFirstInvalid() {
    if (document.activeElement && document.activeElement !== document.body) return;
    var invalid = document.querySelector("form [aria-invalid=true]");
    if (invalid) invalid.focus();
  }

  // The pool's bulk bar: the won/lost details show, and are sent, only when the chosen stage closes
  // the leads (a disabled fieldset sends nothing); the reason and note only for a lost stage.
  function syncBulkClosing(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-bulk-stage]").forEach(function (select) {
      var option = select.options[select.selectedIndex];
      var kind = option ? option.getAttribute("data-kind") : "open";
      var closing = select.form && select.form.querySelector("[data-bulk-closing]");
      var lost = closing && closing.querySelector("[data-bulk-closing-lost]");
      if (!closing) return;
      closing.hidden = closing.disabled = kind !== "won" && kind !== "lost";
      lost.hidden = lost.disabled = kind !== "lost";
    });
  }

  document.addEventListener("change", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-bulk-stage]")) syncBulkClosing(evt.target.parentNode);
  });

  // The pool's selection: "N selected" beside the bulk actions, and a box selecting the whole page
  // (shown only with JavaScript, which it needs).
  function countSelected() {
    var boxes = document.querySelectorAll("input[name=lead_ids]");
    var chosen = document.querySelectorAll("input[name=lead_ids]:checked").length;
    document.querySelectorAll("[data-bulk-count]").forEach(function (count) {
      count.textContent = chosen ? "(" + chosen + " selected)" : "";
    });
    document.querySelectorAll("[data-select-page]").forEach(function (all) {
      all.hidden = boxes.length === 0;
      all.checked = boxes.length > 0 && chosen === boxes.length;
      all.indeterminate = chosen > 0 && chosen < boxes.length;
    });
  }

  document.addEventListener("change", function (evt) {
    if (!evt.target.matches) return;
    if (evt.target.matches("[data-select-page]")) {
      document.querySelectorAll("input[name=lead_ids]").forEach(function (box) { box.checked = evt.target.checked; });
    }
    if (evt.target.matches("[data-select-page], input[name=lead_ids]")) countSelected();
  });
  document.addEventListener("htmx:afterSettle", countSelected);
  document.addEventListener("DOMContentLoaded", countSelected);

  // A swap that replaces the focused control (a filter form redrawn for the custom field picked, a
  // boosted "My leads" link) would drop focus on the body: it returns to the control of the same id.
  var focusedId = null;
  document.addEventListener("htmx:beforeSwap", function () {
    var active = document.activeElement;
    if (active && active !== document.body && active.id) focusedId = active.id;
  });

  function refocus() {
    var id = focusedId;
    focusedId = null;
    if (!id || (document.activeElement && document.activeElement !== document.body)) return;
    var again = document.getElementById(id);
    if (again) again.focus();
  }

  // Last resort after any swap: focus dropped on the body (the control pressed was replaced or
  // removed: a task ticked done, a call logged, a bulk action) goes to the region that changed, or
  // to the main content, so a keyboard user carries on from there rather than from the top.
  // Only a swap that replaces the focused control moves focus (never the bell's polling of a page
  // nobody is in). Events from a removed row never reach the document, so this is decided before
  // the swap and done just after it.
  function keepFocusNear(target) {
    var active = document.activeElement;
    if (active && active !== document.body) return;
    var place = target && document.body.contains(target) ? target : document.querySelector("main");
    if (!place) return;
    if (!place.matches("a[href], button, input, select, textarea, [tabindex]")) place.setAttribute("tabindex", "-1");
    place.focus({ preventScroll: true });
  }

  // The lead page's forms that change the lead besides its stage (a note, an activity, tags, a
  // sequence: [data-send-version]) send the version its "Move to stage" form holds; when nobody else
  // changed the lead meanwhile, the reply's panel carries the new one (data-lead-version), copied
  // into that form (leads/_stage_version.html).
  document.addEventListener("htmx:configRequest", function (evt) {
    var elt = evt.detail.elt;
    if (!elt || !elt.closest || !elt.closest("[data-send-version]")) return;
    var version = document.getElementById("lead-stage-version");
    if (version) evt.detail.parameters.version = version.value;
  });
  document.addEventListener("htmx:afterSwap", function () {
    var fresh = document.querySelector("[data-lead-version]");
    if (!fresh) return;
    var version = document.getElementById("lead-stage-version");
    if (version) version.value = fresh.getAttribute("data-lead-version");
    fresh.removeAttribute("data-lead-version");
  });

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var active = document.activeElement, target = evt.detail.target;
    if (!active || active === document.body || !target || !target.contains(active)) return;
    var around = target.parentNode && target.parentNode.closest("section, [role=region], form, ul, ol, main");
    var id = target.id;
    setTimeout(function () {
      // An outerHTML swap puts a new element under the same id (a pool row after Claim): focus
      // stays on that row, not on the whole page's main content.
      var again = id && document.getElementById(id);
      keepFocusNear(document.body.contains(target) ? target : (again || around));
    }, 60);
  });

  // A lead page form redrawn with the whole page in place (a stage move, a booking: hx-select="#main")
  // names where focus goes next (data-focus-after), unless a refused field or the control pressed
  // has it again. A reply with a page of its own (the closing form of a won or lost stage) focuses
  // its first field.
  document.addEventListener("htmx:afterSettle", function (evt) {
    var form = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    var id = form && form.getAttribute && form.getAttribute("data-focus-after");
    var active = document.activeElement;
    if (!id || (active && active !== document.body && active.id !== "main")) return;
    var main = document.getElementById("main");
    var place = document.getElementById(id) ||
      (main && main.querySelector("[aria-invalid=true], input:not([type=hidden]), select, textarea"));
    if (!place) return;
    if (!place.matches("a[href], button, input, select, textarea, [tabindex]")) place.setAttribute("tabindex", "-1");
    // A field with its label and message in view, not scrolled flush against the top edge.
    place.focus({ preventScroll: true });
    (place.closest(".field") || place).scrollIntoView({ block: "center" });
  });

  // Escape closes the innermost open menu of the top bar (Menu on a phone, Views, Settings: all
  // <details>), the one holding focus if any, and returns focus to its summary; a second Escape
  // closes the menu around it. Tabbing out of a menu closes it too.
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape" || document.querySelector("dialog[open]")) return;
    var open = Array.prototype.filter.call(document.querySelectorAll(".topbar details[open]"), function (menu) {
      return !menu.querySelector("details[open]");  // innermost: no open menu inside it
    });
    var active = document.activeElement;
    var holding = active && active.closest ? active.closest(".topbar details[open]") : null;
    var menu = holding || open[open.length - 1];
    if (!menu) return;
    menu.open = false;
    menu.querySelectorAll("details[open]").forEach(function (inner) { inner.open = false; });
    var summary = menu.querySelector("summary");
    if (summary && (holding || !active || active === document.body)) summary.focus();
  });
  // Escape closes a board card's open "Move to…" menu too, focus back on its button (a closing
  // dialog, modal above the board, takes its own Escape).
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape" || document.querySelector("dialog[open]")) return;
    document.querySelectorAll(".move-to[open]").forEach(function (menu) {
      var inside = menu.contains(document.activeElement);
      menu.open = false;
      if (inside) menu.querySelector("summary").focus();
    });
  });

  // "Show more" replaces itself with the next cards: focus goes to the first of them, not the body.
  var moreFrom = null;
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var item = evt.detail.elt && evt.detail.elt.closest && evt.detail.elt.closest(".load-more");
    var list = item && item.closest(".cards");
    if (list) moreFrom = { stage: list.dataset.stageId, shown: list.querySelectorAll(".card").length };
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (!moreFrom) return;
    var list = document.querySelector('.cards[data-stage-id="' + moreFrom.stage + '"]');
    var first = list && list.querySelectorAll(".card")[moreFrom.shown];
    moreFrom = null;
    var link = first && first.querySelector(".card-title");
    if (link) link.focus();
  });
  document.addEventListener("focusout", function (evt) {
    var menu = evt.target.closest && evt.target.closest(".topbar details[open]");
    // Inside the open phone menu, Views and Settings unfold in place: folding one as focus moves on
    // would shift the links under a finger, so they stay open until the menu closes.
    if (menu && menu.parentNode.closest(".nav-menu[open]")) menu = menu.parentNode.closest(".nav-menu[open]");
    if (menu && evt.relatedTarget && !menu.contains(evt.relatedTarget)) menu.open = false;
  });

  // The board's filters fold away on a phone, so the board is the first screen; they stay open at
  // desktop width, without JavaScript, and whenever a filter is on (the server says how many).
  function foldFilters(root) {
    var scope = root.querySelectorAll ? root : document;
    scope.querySelectorAll("details[data-fold-narrow]").forEach(function (panel) {
      if (panel.dataset.folded) return;
      panel.dataset.folded = "1";
      if (panel.dataset.foldNarrow === "0" && window.matchMedia("(max-width: 720px)").matches) panel.open = false;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    initPool();
    foldFilters(document);
    htmx.onLoad(function (root) {
      syncBulkClosing(root);
      var pool = poolForm();
      if (pool && pool.dataset.sent === undefined) pool.dataset.sent = poolState(pool);
      paint(root);
      foldFilters(root);
      initBoard(root);
      initStageList(root);
    });

    // The merge button names the lead that results: follow the first/last name picks.
    document.body.addEventListener("change", function (evt) {
      var button = document.getElementById("merge-button");
      if (!button || !/^keep_(first|last)_name$/.test(evt.target.name || "")) return;
      function picked(name, fallback) {
        var radio = document.querySelector("input[name=" + name + "]:checked");
        return radio ? radio.dataset.value : fallback;
      }
      var name = (picked("keep_first_name", button.dataset.first) + " " +
                  picked("keep_last_name", button.dataset.last)).trim();
      button.querySelector("[data-merge-result]").textContent = name || button.dataset.fallback;
    });

    // Keyboard "Move to…": remember which card moved so focus can follow it into the refreshed column.
    document.body.addEventListener("htmx:beforeRequest", function (evt) {
      var form = evt.detail.elt;
      var lead = form.tagName === "FORM" && (form.closest(".move-to") || form.classList.contains("close-form")) &&
        form.querySelector("[name=lead_id]");
      if (lead) lastMovedLead = lead.value;
    });

    document.body.addEventListener("htmx:afterSettle", function (evt) {
      if (lastMovedLead) {
        var link = document.querySelector("#card-" + lastMovedLead + " .card-title");
        if (link) {
          link.focus();
          lastMovedLead = null;
        }
      }
      if (!focusMarked()) focusFirstInvalid();
      refocus();
    });

    // A full page after a save (go(..., focus=) on the server) carries a marker naming the saved
    // row: focus goes there, not to the top of the document. A page that came back refused (a form
    // posted without JavaScript) puts focus on its first field marked invalid, however far down.
    if (!focusMarked()) focusFirstInvalid();

    document.body.addEventListener("htmx:responseError", function () {
      flash("Something went wrong on our side, so that change was not saved. Try again in a moment.", "error");
    });
    document.body.addEventListener("htmx:sendError", function () {
      flash("Leadboard could not be reached. Check your connection; nothing was changed.", "error");
    });
  });
})();

// Condition editors (scoring, assignment rules): offer only the tests that fit the chosen field.
(function () {
  function narrow(editor) {
    var fieldSelect = editor.querySelector("[data-condition-field]");
    var opSelect = editor.querySelector("[data-condition-op]");
    if (!fieldSelect || !opSelect) { return; }
    var chosen = fieldSelect.options[fieldSelect.selectedIndex];
    var kind = chosen ? chosen.getAttribute("data-kind") : null;
    Array.prototype.forEach.call(opSelect.options, function (option) {
      var kinds = option.getAttribute("data-kinds");
      var fits = !kind || !kinds || kinds.split(" ").indexOf(kind) !== -1;
      option.hidden = !fits;
      option.disabled = !fits;
    });
    var current = opSelect.options[opSelect.selectedIndex];
    if (current && current.disabled) { opSelect.value = ""; }
  }
  document.addEventListener("change", function (evt) {
    if (evt.target.matches && evt.target.matches("[data-condition-field]")) {
      narrow(evt.target.closest("[data-condition-editor]"));
    }
  });
  function init(root) {
    (root.querySelectorAll ? root : document).querySelectorAll("[data-condition-editor]").forEach(narrow);
  }
  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    if (window.htmx) { htmx.onLoad(init); }
  });
})();

// The closing dialog (won or lost): the server sends it when a card moves to a won or lost stage
// (and puts the card back until it is answered); it opens as a modal. Cancel or Escape closes it
// and focus returns to the card: to its "Move to…" menu when that is what the person used, else
// (a drag) to its link.
(function () {
  var fromMenu = false;
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var elt = evt.detail.elt;
    if (elt && elt.closest && !elt.closest("dialog")) fromMenu = !!elt.closest(".move-to");
  });
  function open(root) {
    var scope = root && root.querySelectorAll ? root : document;
    scope.querySelectorAll("dialog[data-open]").forEach(function (dialog) {
      if (dialog.open) { return; }
      dialog.addEventListener("close", function () {
        var lead = dialog.querySelector("[name=lead_id]");
        var slot = dialog.parentNode;
        if (slot) { slot.innerHTML = ""; }
        var card = lead && document.getElementById("card-" + lead.value);
        var back = card && ((fromMenu && card.querySelector(".move-to summary")) || card.querySelector(".card-title"));
        if (back) { back.focus(); }
      });
      dialog.showModal();
      var first = dialog.querySelector("[aria-invalid=true], input:not([type=hidden]), select, textarea");
      if (first) { first.focus(); }
    });
  }
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("[data-close-dialog]");
    if (button) { button.closest("dialog").close(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    open(document);
    if (window.htmx) { htmx.onLoad(open); }
  });
})();

/* After a tel: or mailto: link is followed, offer to log the call or email right there (the prompt
   is server-rendered and hidden; without JavaScript the log form on the page is the way). */
(function () {
  "use strict";
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest && evt.target.closest("a[data-log-prompt]");
    if (link) {
      var prompt = document.getElementById(link.dataset.logPrompt);
      if (prompt) { prompt.hidden = false; }
      return;
    }
    var dismiss = evt.target.closest && evt.target.closest("[data-dismiss-prompt]");
    if (dismiss) {
      var box = document.getElementById(dismiss.dataset.dismissPrompt);
      if (box) { box.hidden = true; }
    }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var prompt = evt.detail.elt && evt.detail.elt.closest && evt.detail.elt.closest(".log-prompt");
    if (prompt && evt.detail.successful) { prompt.hidden = true; }
  });
  // Only a call has an outcome: the outcome choices step aside for an email, a meeting or a reply.
  // An email or a reply has no duration either: its box steps aside too, disabled so that a
  // number typed before switching is not sent (unless the server refused it: then it shows).
  function showOutcome(form) {
    var kind = form.querySelector("input[name=kind]:checked");
    var outcome = form.querySelector("#activity-outcome");
    if (outcome) { outcome.hidden = !!kind && kind.value !== "call"; }
    var duration = form.querySelector("#activity-duration");
    var box = duration && duration.closest(".field");
    if (box && !box.classList.contains("has-error")) {
      box.hidden = duration.disabled = !!kind && (kind.value === "email" || kind.value === "reply");
    }
  }
  document.addEventListener("change", function (evt) {
    var form = evt.target.closest && evt.target.closest("#activity-form");
    if (form && evt.target.name === "kind") { showOutcome(form); }
  });
  // Enter in a field that belongs to a secondary action (the template's "Preview for the lead")
  // presses that action's button, not the form's first one (Save).
  document.addEventListener("keydown", function (evt) {
    var target = evt.target;
    if (evt.key !== "Enter" || !target.getAttribute) { return; }
    var id = target.getAttribute("data-enter-presses");
    var button = id && document.getElementById(id);
    if (button) { evt.preventDefault(); button.click(); }
  });
  // "Save this view" keeps the filters the address shows now (htmx changes them in place).
  document.addEventListener("submit", function (evt) {
    var query = evt.target.querySelector && evt.target.querySelector("input[data-current-query]");
    if (query) { query.value = window.location.search.replace(/^\?/, ""); }
  });
  function init(root) {
    var form = (root.querySelector ? root : document).querySelector("#activity-form");
    if (root.id === "activity-form") { form = root; }
    if (form) { showOutcome(form); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    if (window.htmx) { htmx.onLoad(init); }
  });
})();

/* The bell: ask for the unread count every data-every seconds while the tab is visible, and at once
   when it becomes visible again; a hidden tab asks nothing. The request says what the page shows
   (`shown`), so the server answers 204 while that is right. Polling, not server-sent events: a
   sync gunicorn worker would be held by each open tab, and proxies buffer or cut long responses. */
(function () {
  "use strict";
  var timer = null;
  function bell() { return document.getElementById("bell-count"); }
  function shown(el) {
    var count = el.querySelector("[data-unread]");
    return count ? count.dataset.unread : "0";
  }
  function poll() {
    var el = bell();
    if (el && window.htmx && document.visibilityState === "visible") { htmx.trigger(el, "bell-poll"); }
  }
  function stop() { if (timer) { clearInterval(timer); timer = null; } }
  function start() {
    var el = bell();
    stop();
    if (el) { timer = setInterval(poll, Math.max(1, Number(el.dataset.every) || 30) * 1000); }
  }
  document.addEventListener("htmx:configRequest", function (evt) {
    if (evt.detail.elt && evt.detail.elt.id === "bell-count") { evt.detail.parameters.shown = shown(evt.detail.elt); }
  });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") { poll(); start(); } else { stop(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (document.visibilityState === "visible") { start(); }
  });
})();

/* "Copy" buttons: <button data-copy="ID"> copies the value (or text) of the element with that id and
   says "Copied" in its [data-copy-status="ID"] live region. Without the Clipboard API (an insecure
   origin) the text is selected instead, and the status says how to copy it. */
(function () {
  "use strict";
  function say(id, message) {
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (status) { status.textContent = ""; status.textContent = message; }
  }
  function selectIt(source) {
    if (source.select) { source.focus(); source.select(); }
    say(source.id, "Selected: press Ctrl+C (⌘C) to copy.");
  }
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest("[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var text = "value" in source ? source.value : source.textContent;
    if (!navigator.clipboard || !window.isSecureContext) { selectIt(source); return; }
    navigator.clipboard.writeText(text).then(function () {
      say(source.id, "Copied");
    }, function () { selectIt(source); });
  });
})();

/* The board on a wide screen and a phone: Scroll left/right buttons (shown only when the board is
   wider than its box), the won and lost columns folded to a narrow strip (remembered in this
   browser), and the "Columns" switcher's links scrolling the board to a column. */
(function () {
  "use strict";
  var KEY = "leadboard.board.collapsed";

  function collapsed() {
    try {
      var ids = JSON.parse(window.localStorage.getItem(KEY) || "[]");
      return Array.isArray(ids) ? ids.map(String) : [];
    } catch (e) {
      return [];
    }
  }

  function remember(ids) {
    try { window.localStorage.setItem(KEY, JSON.stringify(ids)); } catch (e) { /* private mode: not kept */ }
  }

  function fold(column, on) {
    var button = column.querySelector("[data-collapse-column]");
    if (!button) return;
    column.classList.toggle("is-collapsed", on);
    button.setAttribute("aria-expanded", on ? "false" : "true");
    button.querySelector("[data-collapse-label]").textContent = on ? "Expand" : "Collapse";
  }

  function initFolds(root) {
    var ids = collapsed();
    var scope = root.querySelectorAll ? root : document;
    var buttons = Array.prototype.slice.call(scope.querySelectorAll("[data-collapse-column]"));
    buttons.forEach(function (button) {
      var column = button.closest(".column");
      button.hidden = false;
      fold(column, ids.indexOf(column.dataset.stage) !== -1);
    });
  }

  function syncScroll() {
    var board = document.getElementById("board");
    var controls = document.querySelector("[data-board-scroll-controls]");
    if (!board || !controls) return;
    var max = board.scrollWidth - board.clientWidth;
    controls.hidden = max <= 1;
    // aria-disabled, not disabled: a button pressed to the end keeps its focus.
    controls.querySelector('[data-board-scroll="-1"]').setAttribute("aria-disabled", board.scrollLeft <= 1 ? "true" : "false");
    controls.querySelector('[data-board-scroll="1"]').setAttribute("aria-disabled", board.scrollLeft >= max - 1 ? "true" : "false");
  }

  document.addEventListener("click", function (evt) {
    if (!evt.target.closest) return;
    var toggle = evt.target.closest("[data-collapse-column]");
    if (toggle) {
      var column = toggle.closest(".column");
      var on = !column.classList.contains("is-collapsed");
      var ids = collapsed().filter(function (id) { return id !== column.dataset.stage; });
      if (on) ids.push(column.dataset.stage);
      remember(ids);
      fold(column, on);
      syncScroll();
      return;
    }
    var scroller = evt.target.closest("[data-board-scroll]");
    var board = document.getElementById("board");
    if (scroller && board) {
      if (scroller.getAttribute("aria-disabled") === "true") return;
      var step = Math.max(board.clientWidth * 0.8, 200) * Number(scroller.dataset.boardScroll);
      board.scrollBy({ left: step, behavior: "smooth" });
      return;
    }
    var jump = evt.target.closest(".board-columns a[href^='#column-']");
    var target = jump && document.getElementById(jump.getAttribute("href").slice(1));
    if (target) {
      // The board scrolls sideways to the column, the page stays where it is; focus goes to it.
      evt.preventDefault();
      if (target.classList.contains("is-collapsed")) fold(target, false);
      target.scrollIntoView({ block: "nearest", inline: "start" });
      target.focus({ preventScroll: true });
    }
  });

  // The "Columns" switcher (phone width): the link of the column in view (the one whose left edge
  // is nearest the board's) is aria-current, "2 of 7" says where it is, the link is scrolled into
  // the row, and the row's classes fade the edges with more links beyond them.
  function syncColumnLinks() {
    var board = document.getElementById("board");
    var nav = document.querySelector(".board-columns");
    if (!board || !nav) return;
    var columns = board.querySelectorAll(".column");
    var left = board.getBoundingClientRect().left, current = -1, gap = Infinity;
    columns.forEach(function (column, i) {
      var distance = Math.abs(column.getBoundingClientRect().left - left);
      if (distance < gap - 1) { gap = distance; current = i; }
    });
    var row = nav.querySelector("ul");
    nav.querySelectorAll("a[href^='#column-']").forEach(function (link) {
      var on = current >= 0 && link.getAttribute("href") === "#" + columns[current].id;
      if (!on) { link.removeAttribute("aria-current"); return; }
      if (link.getAttribute("aria-current") !== "true") {
        link.setAttribute("aria-current", "true");
        // Sideways within the row only: the page itself does not move.
        var item = link.parentNode;
        if (item.offsetLeft < row.scrollLeft) row.scrollLeft = item.offsetLeft;
        else if (item.offsetLeft + item.offsetWidth > row.scrollLeft + row.clientWidth) {
          row.scrollLeft = item.offsetLeft + item.offsetWidth - row.clientWidth;
        }
      }
    });
    var where = nav.querySelector("[data-column-where]");
    if (where) where.textContent = current >= 0 && columns.length > 1 ? (current + 1) + " of " + columns.length : "";
    syncRowEdges(nav);
  }

  function syncRowEdges(nav) {
    var row = nav.querySelector("ul");
    if (!row) return;
    nav.classList.toggle("more-before", row.scrollLeft > 1);
    nav.classList.toggle("more-after", row.scrollLeft < row.scrollWidth - row.clientWidth - 1);
  }

  var pending = false;
  function soon() {
    if (pending) return;
    pending = true;
    window.requestAnimationFrame(function () { pending = false; syncColumnLinks(); });
  }

  document.addEventListener("scroll", function (evt) {
    if (evt.target && evt.target.id === "board") { syncScroll(); soon(); }
    var nav = evt.target && evt.target.closest && evt.target.closest(".board-columns");
    if (nav) syncRowEdges(nav);
  }, true);
  window.addEventListener("resize", function () { syncScroll(); soon(); });

  document.addEventListener("DOMContentLoaded", function () {
    initFolds(document);
    syncScroll();
    syncColumnLinks();
    if (window.htmx) {
      htmx.onLoad(function (root) {
        initFolds(root);
        syncScroll();
        soon();
      });
    }
  });
})();

/* == newuser14: the board's quick add takes the typing as soon as its form arrives == */
/* Opening "Add a lead" fetches the form into the column; until it arrives the slot holds the no-JS
   link, and a quick Tab lands on that link, which the swap then removes, dropping focus to the page.
   When the form arrives and focus was lost that way, it goes to the Name box (focus anywhere else,
   the opener included, is left alone). */
(function () {
  document.addEventListener("htmx:afterSwap", function (evt) {
    var slot = evt.detail && evt.detail.target;
    if (!slot || !slot.classList || !slot.classList.contains("quick-add-slot")) return;
    var active = document.activeElement;
    if (active && active !== document.body) return;
    var first = slot.querySelector("input:not([type=hidden]), select, textarea");
    if (first) first.focus();
  });
})();
