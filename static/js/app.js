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
