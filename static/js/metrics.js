// The dashboards (templates/metrics/): charts drawn from the tables' JSON, table toggles, the
// filter bar's conveniences and "copy link". Every page works without this file: the tables
// are in the page and the filter bar is a plain GET form. No inline script (CSP).
(function () {
  "use strict";
  var lang = document.documentElement.lang || "en";
  var palette = ["#0f6e6e", "#c2571a", "#5b4b9a", "#1f6fb2", "#8a6d00", "#b3261e", "#2e7d32", "#55656b"];
  var numbers = new Intl.NumberFormat(lang, { maximumFractionDigits: 1 });

  function format(value, unit) {
    if (value === null || value === undefined) { return "—"; }
    var text = numbers.format(value);
    if (unit === "percent") { return text + "%"; }
    if (unit === "duration") { return text + " min"; }
    return text;
  }

  // Tables shown or hidden beside their chart --------------------------------------------------
  function setTable(button, shown) {
    var table = document.getElementById(button.getAttribute("aria-controls"));
    if (!table) { return; }
    table.hidden = !shown;
    button.setAttribute("aria-expanded", shown ? "true" : "false");
    button.textContent = button.getAttribute(shown ? "data-hide-label" : "data-show-label");
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-toggle-table]");
    if (button) {
      setTable(button, button.getAttribute("aria-expanded") !== "true");
    }
  });

  // Charts -------------------------------------------------------------------------------------
  function drawChart(box) {
    var source = document.getElementById(box.getAttribute("data-chart"));
    if (!source || typeof window.Chart === "undefined") { return; }
    var spec = JSON.parse(source.textContent);
    if (!spec || !spec.labels || !spec.labels.length) { return; }
    var canvas = box.querySelector("canvas");
    var switchable = !!spec["switch"];
    var datasets = spec.datasets.map(function (set, index) {
      var colour = palette[index % palette.length];
      return {
        label: set.label,
        data: set.data,
        unit: set.unit,
        counts: set.n,
        hidden: switchable && index !== 0,
        borderColor: colour,
        backgroundColor: spec.type === "bar" ? colour : colour + "33",
        pointRadius: 3,
        maxBarThickness: 64,
        tension: 0.2,
        spanGaps: false
      };
    });
    box.hidden = false;
    var chart = new window.Chart(canvas, {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        interaction: { mode: "index", intersect: false },
        plugins: {
          legend: { display: !switchable, position: "bottom" },
          tooltip: {
            callbacks: {
              label: function (item) {
                var set = item.dataset;
                var n = set.counts ? set.counts[item.dataIndex] : null;
                return set.label + ": " + format(item.raw, set.unit) + (n ? " (n = " + numbers.format(n) + ")" : "");
              }
            }
          }
        },
        scales: {
          y: {
            beginAtZero: true,
            ticks: {
              // Counts have no fractions: no ticks at 0.1, 0.2 … when the largest count is 1.
              precision: spec.datasets.every(function (set) { return set.unit === "count"; }) ? 0 : undefined,
              callback: function (value) {
                var shown = datasets.filter(function (set, index) { return chart ? chart.isDatasetVisible(index) : !set.hidden; });
                return format(value, shown.length ? shown[0].unit : "");
              }
            }
          }
        }
      }
    });

    if (switchable) {
      var wrap = document.createElement("div");
      wrap.className = "chart-switch";
      var label = document.createElement("label");
      var select = document.createElement("select");
      select.id = box.getAttribute("data-chart") + "-metric";
      label.setAttribute("for", select.id);
      label.textContent = box.getAttribute("data-switch-label");
      spec.datasets.forEach(function (set, index) {
        var option = document.createElement("option");
        option.value = String(index);
        option.textContent = set.label;
        select.appendChild(option);
      });
      select.addEventListener("change", function () {
        var chosen = parseInt(select.value, 10);
        chart.data.datasets.forEach(function (set, index) { chart.setDatasetVisibility(index, index === chosen); });
        chart.update();
      });
      wrap.appendChild(label);
      wrap.appendChild(select);
      box.insertBefore(wrap, box.firstChild);
    }

    var block = box.closest("section");
    var button = block && block.querySelector("[data-toggle-table]");
    if (button) {
      button.hidden = false;
      setTable(button, !!spec.table_open);
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll(".chart-box[data-chart]"), drawChart);

  // The filter bar -----------------------------------------------------------------------------
  var form = document.querySelector("[data-filter-form]");
  if (form) {
    var period = form.querySelector("[name=period]");
    Array.prototype.forEach.call(form.querySelectorAll("[name=from], [name=to]"), function (input) {
      input.addEventListener("change", function () {
        if (input.value && period) { period.value = "custom"; }
      });
    });
    // A short, shareable URL: leave out empty fields, and the dates unless the period is custom.
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.elements, function (element) {
        if (!element.name || element.disabled) { return; }
        var unused = !element.value || ((element.name === "from" || element.name === "to") && period && period.value !== "custom");
        if (unused) {
          element.disabled = true;
          element.setAttribute("data-left-out", "");
        }
      });
    });
    window.addEventListener("pageshow", function () {
      Array.prototype.forEach.call(form.querySelectorAll("[data-left-out]"), function (element) {
        element.disabled = false;
        element.removeAttribute("data-left-out");
      });
    });
    var bar = form.closest("details");
    if (bar && !bar.hasAttribute("data-keep-open") && window.matchMedia("(max-width: 640px)").matches) {
      bar.open = false;
    }
  }

  // Copy the link to these figures -------------------------------------------------------------
  var copy = document.querySelector("[data-copy-link]");
  if (copy) {
    var status = document.querySelector("[data-copy-status]");
    copy.addEventListener("click", function (event) {
      event.preventDefault();
      var url = copy.href;
      function done(ok) {
        if (status) { status.textContent = copy.getAttribute(ok ? "data-copied" : "data-copy-failed"); }
      }
      if (navigator.clipboard && navigator.clipboard.writeText) {
        navigator.clipboard.writeText(url).then(function () { done(true); }, function () { done(false); });
      } else {
        done(false);
      }
    });
  }
})();
