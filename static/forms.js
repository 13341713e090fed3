/* Capture form settings: a "Copy" button beside each snippet. Without JavaScript the read-only
   fields can still be selected and copied by hand, so the buttons are only added here. */
(function () {
  "use strict";

  function copyText(field, status) {
    function done() { status.textContent = "Copied."; }
    function byHand() {
      field.focus();
      field.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      status.textContent = ok ? "Copied." : "Selected: press Ctrl+C (or ⌘C) to copy.";
    }
    status.textContent = "";
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, byHand);
    } else {
      byHand();
    }
  }

  function addButtons() {
    document.querySelectorAll("[data-copyable]").forEach(function (field) {
      if (field.dataset.copyReady) return;
      field.dataset.copyReady = "1";
      var label = document.querySelector("label[for='" + field.id + "']");
      var row = document.createElement("div");
      row.className = "actions";
      var button = document.createElement("button");
      button.type = "button";
      button.className = "small";
      button.textContent = "Copy";
      if (label) {
        var hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        hidden.textContent = " " + label.textContent.toLowerCase();
        button.appendChild(hidden);
      }
      var status = document.createElement("span");
      status.className = "hint";
      status.setAttribute("role", "status");
      row.append(button, status);
      field.insertAdjacentElement("afterend", row);
      button.addEventListener("click", function () { copyText(field, status); });
      field.addEventListener("focus", function () { field.select(); });
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", addButtons);
  else addButtons();
})();
