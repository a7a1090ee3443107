/*
 * cxm embeddable contact form. On a website:
 *   <div data-cxm-form="SITE_KEY"></div>
 *   <script src="https://YOUR-CXM/static/webchat/form.js" defer></script>
 */
(function () {
  "use strict";
  var script = document.currentScript;
  var base = new URL(script.src).origin;
  var lang = (document.documentElement.lang || "en").slice(0, 2);
  var words = {
    en: ["Your name", "Your email address", "Subject", "Your message", "Send message"],
    nl: ["Je naam", "Je e-mailadres", "Onderwerp", "Je bericht", "Bericht versturen"],
    ro: ["Numele tău", "Adresa ta de e-mail", "Subiect", "Mesajul tău", "Trimite mesajul"],
    fy: ["Jo namme", "Jo e-mailadres", "Ûnderwerp", "Jo berjocht", "Berjocht ferstjoere"]
  }[lang] || ["Your name", "Your email address", "Subject", "Your message", "Send message"];
  var fields = [["name", "text", words[0]], ["email", "email", words[1]], ["subject", "text", words[2]], ["message", "textarea", words[3]]];
  Array.prototype.forEach.call(document.querySelectorAll("[data-cxm-form]"), function (root, n) {
    var site = root.getAttribute("data-cxm-form");
    var form = document.createElement("form");
    form.className = "cxm-form";
    fields.forEach(function (spec) {
      var id = "cxm-form-" + n + "-" + spec[0];
      var label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = spec[2];
      var input = document.createElement(spec[1] === "textarea" ? "textarea" : "input");
      if (spec[1] !== "textarea") { input.type = spec[1]; }
      input.id = id;
      input.name = spec[0];
      form.appendChild(label);
      form.appendChild(input);
    });
    var status = document.createElement("p");
    status.setAttribute("role", "status");
    var button = document.createElement("button");
    button.type = "submit";
    button.textContent = words[4];
    form.appendChild(button);
    form.appendChild(status);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var body = { lang: lang };
      fields.forEach(function (spec) { body[spec[0]] = form.elements[spec[0]].value; });
      fetch(base + "/contact/" + encodeURIComponent(site) + "/submit/", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
      }).then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (r) {
          status.textContent = r.ok ? r.data.message : r.data.detail;
          if (r.ok) { form.reset(); }
        });
    });
    root.appendChild(form);
  });
})();
