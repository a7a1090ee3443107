// The respondent page: display logic and saving each answer as it is given (all-on-one-page mode),
// the "other, please specify" field, and the one-click score (a script-driven POST, which mail
// scanners that only prefetch links never make). Without this script the page still works.
(function () {
  "use strict";
  var form = document.querySelector("form[data-survey]");
  if (!form) return;

  function blocks() { return Array.prototype.slice.call(form.querySelectorAll("[data-question]")); }

  function valueOf(block) {
    if (!block || block.hidden) return undefined;
    var inputs = block.querySelectorAll("input[name^='q-'], textarea[name^='q-']");
    var picked = [];
    var text = "";
    inputs.forEach(function (input) {
      if (input.name.slice(-6) === "-other") return;
      if (input.type === "radio" || input.type === "checkbox") { if (input.checked) picked.push(input.value); }
      else text = input.value;
    });
    var type = block.dataset.type;
    if (type === "nps" || type === "rating" || type === "ces") return picked.length ? parseInt(picked[0], 10) : undefined;
    if (type === "multiple") return picked.length ? picked : undefined;
    if (picked.length) return picked[0];
    return text || undefined;
  }

  function met(condition, given) {
    var value = given[condition.question];
    if (value === undefined) return false;
    if (condition.values) {
      var list = Array.isArray(value) ? value : [String(value)];
      return list.some(function (v) { return condition.values.indexOf(v) !== -1; });
    }
    if (typeof value !== "number") return false;
    return (condition.min == null || value >= condition.min) && (condition.max == null || value <= condition.max);
  }

  function applyConditions() {
    var given = {};
    blocks().forEach(function (block) {
      if (block.dataset.condition) {
        var show = met(JSON.parse(block.dataset.condition), given);
        block.hidden = !show;
        block.querySelectorAll("input, textarea").forEach(function (el) { el.disabled = !show; });
      }
      given[block.dataset.question] = valueOf(block);
    });
  }

  function toggleOther() {
    form.querySelectorAll("input[data-other]").forEach(function (radio) {
      var other = document.getElementById(radio.dataset.other);
      if (other) other.closest("label").hidden = !radio.checked;
    });
  }

  function csrf() {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function autosave(block) {
    var url = form.dataset.autosave;
    if (!url || block.hidden) return;
    var data = new FormData();
    data.append("question", block.dataset.question);
    var lang = form.querySelector("input[name=lang]");
    if (lang) data.append("lang", lang.value);
    block.querySelectorAll("input, textarea").forEach(function (el) {
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) return;
      data.append(el.name, el.value);
    });
    fetch(url, { method: "POST", body: data, credentials: "same-origin", headers: { "X-CSRFToken": csrf() } })
      .then(function (reply) {
        var old = block.querySelector(".autosave-error");
        if (old) old.remove();
        if (reply.ok) return;
        return reply.json().then(function (body) {
          var note = document.createElement("p");
          note.className = "field-error autosave-error";
          note.setAttribute("role", "alert");
          note.textContent = body.detail;
          block.appendChild(note);
        });
      })
      .catch(function () { /* the Send button posts everything again */ });
  }

  form.addEventListener("change", function (event) {
    applyConditions();
    toggleOther();
    var block = event.target.closest("[data-question]");
    if (form.dataset.mode === "all" && block && !form.hasAttribute("data-preview")) autosave(block);
  });
  var timer = null;
  form.addEventListener("input", function (event) {
    if (event.target.tagName !== "TEXTAREA" && event.target.type !== "text") return;
    clearTimeout(timer);
    timer = setTimeout(applyConditions, 200);
  });
  if (form.dataset.mode === "all") applyConditions();
  toggleOther();

  if (form.hasAttribute("data-autosubmit")) {
    var next = form.querySelector("[data-next]");
    if (form.requestSubmit) form.requestSubmit(next); else next.click();
  }
})();
