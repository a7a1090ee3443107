/*
 * cxm web chat widget. Embed on a website with:
 *   <script src="https://YOUR-CXM/static/webchat/widget.js" data-cxm-site="SITE_KEY" defer></script>
 * No third-party code; talks only to the cxm server it was loaded from.
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-cxm-site]");
  if (!script) { return; }
  var site = script.getAttribute("data-cxm-site");
  var base = (script.getAttribute("data-cxm-base") || new URL(script.src).origin).replace(/\/$/, "");
  var api = base + "/chat/" + encodeURIComponent(site);
  var storageKey = "cxm-chat-" + site;
  var lang = (document.documentElement.lang || "en").slice(0, 2);
  var words = {
    en: { open: "Chat with us", close: "Close chat", send: "Send", placeholder: "Type your message", email: "Your email, for a reply if you leave", save: "Save", you: "You", title: "Chat" },
    nl: { open: "Chat met ons", close: "Chat sluiten", send: "Versturen", placeholder: "Typ je bericht", email: "Je e-mailadres, voor een antwoord als je weggaat", save: "Opslaan", you: "Jij", title: "Chat" },
    ro: { open: "Scrie-ne", close: "Închide chatul", send: "Trimite", placeholder: "Scrie mesajul tău", email: "E-mailul tău, pentru un răspuns dacă pleci", save: "Salvează", you: "Tu", title: "Chat" },
    fy: { open: "Chat mei ús", close: "Chat slute", send: "Ferstjoere", placeholder: "Typ jo berjocht", email: "Jo e-mailadres, foar in antwurd as jo fuortgeane", save: "Bewarje", you: "Jo", title: "Chat" }
  }[lang] || null;
  if (!words) { words = { open: "Chat with us", close: "Close chat", send: "Send", placeholder: "Type your message", email: "Your email, for a reply if you leave", save: "Save", you: "You", title: "Chat" }; }

  var link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = base + "/static/webchat/widget.css";
  document.head.appendChild(link);

  var root = document.createElement("div");
  root.className = "cxm-chat";
  var launcher = document.createElement("button");
  launcher.type = "button";
  launcher.className = "cxm-chat-launcher";
  launcher.setAttribute("aria-expanded", "false");
  launcher.textContent = words.open;
  var panel = document.createElement("section");
  panel.className = "cxm-chat-panel";
  panel.hidden = true;
  panel.setAttribute("aria-label", words.title);
  var log = document.createElement("ol");
  log.className = "cxm-chat-log";
  log.setAttribute("aria-live", "polite");
  var form = document.createElement("form");
  form.className = "cxm-chat-form";
  var label = document.createElement("label");
  label.className = "cxm-chat-hidden";
  label.htmlFor = "cxm-chat-input";
  label.textContent = words.placeholder;
  var input = document.createElement("textarea");
  input.id = "cxm-chat-input";
  input.rows = 2;
  input.maxLength = 4000;
  input.placeholder = words.placeholder;
  var send = document.createElement("button");
  send.type = "submit";
  send.textContent = words.send;
  form.appendChild(label); form.appendChild(input); form.appendChild(send);
  var contact = document.createElement("form");
  contact.className = "cxm-chat-contact";
  var emailLabel = document.createElement("label");
  emailLabel.htmlFor = "cxm-chat-email";
  emailLabel.textContent = words.email;
  var email = document.createElement("input");
  email.type = "email";
  email.id = "cxm-chat-email";
  email.autocomplete = "email";
  var save = document.createElement("button");
  save.type = "submit";
  save.textContent = words.save;
  var note = document.createElement("p");
  note.className = "cxm-chat-note";
  note.setAttribute("role", "status");
  contact.appendChild(emailLabel); contact.appendChild(email); contact.appendChild(save); contact.appendChild(note);
  panel.appendChild(log); panel.appendChild(form); panel.appendChild(contact);
  root.appendChild(panel); root.appendChild(launcher);
  document.body.appendChild(root);

  var token = null;
  var ready = null;  // the session request, once started: messages wait for it
  var lastId = 0;
  var timer = null;

  function call(method, path, body) {
    var options = { method: method, headers: {} };
    if (body) { options.headers["Content-Type"] = "application/json"; options.body = JSON.stringify(body); }
    return fetch(api + path, options).then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); });
  }
  function show(message) {
    var item = document.createElement("li");
    item.className = "cxm-chat-" + message.from;
    var who = document.createElement("strong");
    who.textContent = message.from === "visitor" ? words.you : (message.author || "");
    var text = document.createElement("span");
    text.textContent = message.text;  // text only: nothing from the server is parsed as HTML
    if (who.textContent) { item.appendChild(who); }
    item.appendChild(text);
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
  }
  function poll() {
    if (!token) { return; }
    call("GET", "/messages/?token=" + encodeURIComponent(token) + "&after=" + lastId).then(function (r) {
      if (!r.ok) { return; }
      r.data.messages.forEach(function (m) { lastId = Math.max(lastId, m.id); show(m); });
    });
  }
  function start() {
    if (ready) { return ready; }
    var stored = null;
    try { stored = window.localStorage.getItem(storageKey); } catch (e) { stored = null; }
    ready = call("POST", "/session/", { token: stored, lang: lang }).then(function (r) {
      token = r.data.token;
      try { window.localStorage.setItem(storageKey, token); } catch (e) { /* private mode */ }
      if (!lastId && r.data.greeting) { show({ from: "agent", author: "", text: r.data.greeting }); }
      poll();
      timer = window.setInterval(poll, 3000);
    });
    return ready;
  }
  launcher.addEventListener("click", function () {
    var opening = panel.hidden;
    panel.hidden = !opening;
    launcher.setAttribute("aria-expanded", String(opening));
    launcher.textContent = opening ? words.close : words.open;
    if (opening) { start(); }
    if (opening) { input.focus(); }
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    start().then(function () {
      return call("POST", "/messages/", { token: token, text: text, page: window.location.href });
    }).then(poll);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  contact.addEventListener("submit", function (event) {
    event.preventDefault();
    start().then(function () {
      return call("POST", "/contact/", { token: token, email: email.value, lang: lang });
    }).then(function (r) {
      note.textContent = r.ok ? r.data.message : r.data.detail;
    });
  });
  window.addEventListener("beforeunload", function () { if (timer) { window.clearInterval(timer); } });
})();
