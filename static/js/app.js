// Small progressive enhancements. Every page works without them; no inline script (CSP).
(function () {
  "use strict";
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // Journey map: drag touchpoint cards within and across stages, and drag stages by their
  // header. The arrow buttons on every card and stage do the same from the keyboard.
  var map = document.querySelector(".journey-map[data-reorder-url]");
  if (!map) { return; }
  var dragged = null;

  function post(body) {
    return fetch(map.getAttribute("data-reorder-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": map.getAttribute("data-csrf") },
      body: JSON.stringify(body)
    }).then(function () { window.location.reload(); });
  }

  function ids(container, selector, attribute) {
    return Array.prototype.map.call(container.querySelectorAll(selector), function (el) {
      return parseInt(el.getAttribute(attribute), 10);
    });
  }

  map.addEventListener("dragstart", function (event) {
    var card = event.target.closest(".tp-card");
    var head = event.target.closest(".stage-head");
    dragged = card || (head && head.closest(".stage-column"));
    if (!dragged) { return; }
    dragged.classList.add("dragging");
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", "");
  });
  map.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    Array.prototype.forEach.call(map.querySelectorAll(".drag-over"), function (el) { el.classList.remove("drag-over"); });
  });
  map.addEventListener("dragover", function (event) {
    if (!dragged) { return; }
    var target = dragged.classList.contains("tp-card") ? event.target.closest(".touchpoint-list, .stage-column") : event.target.closest(".stage-column");
    if (!target || target.classList.contains("stage-new")) { return; }
    event.preventDefault();
    Array.prototype.forEach.call(map.querySelectorAll(".drag-over"), function (el) { el.classList.remove("drag-over"); });
    target.classList.add("drag-over");
  });
  map.addEventListener("drop", function (event) {
    if (!dragged) { return; }
    event.preventDefault();
    if (dragged.classList.contains("tp-card")) {
      var column = event.target.closest(".stage-column");
      if (!column || column.classList.contains("stage-new")) { return; }
      var list = column.querySelector(".touchpoint-list");
      var before = event.target.closest(".tp-card");
      if (before && before !== dragged) { list.insertBefore(dragged, before); } else if (!before) { list.appendChild(dragged); }
      post({ stage: parseInt(list.getAttribute("data-stage-id"), 10), touchpoints: ids(list, ".tp-card", "data-touchpoint-id") });
    } else {
      var targetColumn = event.target.closest(".stage-column");
      if (!targetColumn || targetColumn === dragged || targetColumn.classList.contains("stage-new")) { return; }
      map.insertBefore(dragged, targetColumn);
      post({ stages: ids(map, ".stage-column[data-stage-id]", "data-stage-id") });
    }
  });
})();

// The conversation composer tells the live poll that this agent is typing (collision warning).
(function () {
  "use strict";
  var flag = document.getElementById("typing-flag");
  var composer = flag && flag.form && flag.form.querySelector("textarea");
  if (!composer) { return; }
  var idle = null;
  composer.addEventListener("input", function () {
    flag.value = composer.value.trim() ? "1" : "0";
    window.clearTimeout(idle);
    idle = window.setTimeout(function () { flag.value = "0"; }, 8000);
  });
})();

// SMS composer: characters and SMS parts (GSM-7: 160, or 153 per part; otherwise 70 / 67).
(function () {
  "use strict";
  var out = document.getElementById("segments");
  var text = document.getElementById("id_text");
  var channel = document.getElementById("id_channel");
  if (!out || !text || !channel) { return; }
  var gsm = /^[@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&'()*+,\-./0-9:;<=>?¡A-ZÄÖÑÜ§¿a-zäöñüà^{}\\[~\]|€]*$/;
  function update() {
    var value = text.value;
    var chars = value.length;
    if (channel.value === "sms") {
      var plain = gsm.test(value);
      var single = plain ? 160 : 70;
      var part = plain ? 153 : 67;
      var parts = chars <= single ? 1 : Math.ceil(chars / part);
      out.textContent = out.getAttribute("data-sms").replace("%(chars)s", chars).replace("%(parts)s", parts);
    } else {
      out.textContent = chars ? out.getAttribute("data-plain").replace("%(chars)s", chars) : "";
    }
  }
  text.addEventListener("input", update);
  channel.addEventListener("change", update);
  update();
})();

// Inbox lists: keep the selected rows selected when the live refresh replaces them.
(function () {
  "use strict";
  var selected = {};
  document.addEventListener("change", function (event) {
    if (event.target.classList && event.target.classList.contains("bulk-select")) {
      selected[event.target.value] = event.target.checked;
    }
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".bulk-select"), function (box) {
      if (selected[box.value]) { box.checked = true; }
    });
  });
})();

// Keyboard shortcuts of the inbox; "?" lists them.
(function () {
  "use strict";
  var dialog = document.getElementById("shortcuts");
  if (!dialog) { return; }
  var current = -1;
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#conversation-rows tr[data-conversation-id]")); }
  function focusRow(index) {
    var list = rows();
    if (!list.length) { return; }
    current = Math.max(0, Math.min(list.length - 1, index));
    list.forEach(function (row, i) { row.classList.toggle("kbd-current", i === current); });
    var link = list[current].querySelector("a");
    if (link) { link.focus(); }
  }
  function click(selector) { var el = document.querySelector(selector); if (el) { el.click(); } }
  function focus(selector) { var el = document.querySelector(selector); if (el) { el.focus(); } }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-shortcuts-open]")) { dialog.showModal(); }
    if (event.target.closest("[data-shortcuts-close]")) { dialog.close(); }
  });
  document.addEventListener("keydown", function (event) {
    var tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" || tag === "textarea" || tag === "select" || event.metaKey || event.ctrlKey || event.altKey) { return; }
    var actions = {
      "?": function () { if (dialog.open) { dialog.close(); } else { dialog.showModal(); } },
      "j": function () { focusRow(current + 1); },
      "k": function () { focusRow(current - 1); },
      "x": function () { var row = rows()[current]; if (row) { row.querySelector(".bulk-select").click(); } },
      "/": function () { focus("#inbox-q"); },
      "r": function () { focus("#id_text"); },
      "n": function () { focus("#note-text"); },
      "a": function () { click("[data-shortcut='a']"); },
      "e": function () { click("[data-shortcut='e']"); }
    };
    if (actions[event.key]) { event.preventDefault(); actions[event.key](); }
  });
})();

// Survey builder: switch the live preview between phone and desktop width.
(function () {
  "use strict";
  var frame = document.querySelector("[data-preview-frame]");
  if (!frame) { return; }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-preview-size]");
    if (!button) { return; }
    var phone = button.dataset.previewSize === "phone";
    frame.classList.toggle("preview-phone", phone);
    document.querySelectorAll("[data-preview-size]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b === button));
    });
  });
})();
