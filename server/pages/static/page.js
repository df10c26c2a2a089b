// planstream teacher page: optional enhancements. The page works without this file.
// - checks the form while the teacher types (the server's own rules, POST /plans/check)
//   and shows the plan's size before it is made;
// - a copy button for the download link on the plan page.
(function () {
  "use strict";
  var form = document.getElementById("plan-form");
  if (form) {
    var timer = null;
    var estimate = document.getElementById("estimate");
    var focusMode = document.getElementById("f-mode-focus");
    var syncScores = function () {
      var off = focusMode && focusMode.checked;
      form.querySelectorAll(".scores input").forEach(function (el) { el.disabled = off; });
    };
    var show = function (errors) {
      form.querySelectorAll("input[name], select[name]").forEach(function (el) {
        if (el.type === "hidden" || el.type === "radio") return;
        var name = el.name, id = "err-" + name.replace(".", "-");
        var msg = errors[name];
        var old = document.getElementById(id);
        var described = (el.getAttribute("aria-describedby") || "").split(" ").filter(function (x) { return x && x !== id; });
        if (msg) {
          if (!old) {
            old = document.createElement("p");
            old.className = "error";
            old.id = id;
            el.parentNode.appendChild(old);
          }
          old.textContent = msg;
          described.push(id);
          el.setAttribute("aria-invalid", "true");
        } else {
          if (old) old.parentNode.removeChild(old);
          if (!errors.scores) el.removeAttribute("aria-invalid");
        }
        el.setAttribute("aria-describedby", described.join(" "));
      });
    };
    var showGroup = function (msg) {
      var box = document.getElementById("f-scores"), id = "err-scores";
      var old = document.getElementById(id);
      if (msg) {
        if (!old) {
          old = document.createElement("p");
          old.className = "error";
          old.id = id;
          box.insertBefore(old, box.querySelector(".grid"));
        }
        old.textContent = msg;
      } else if (old) {
        old.parentNode.removeChild(old);
      }
    };
    var check = function () {
      var body = new URLSearchParams(new FormData(form));
      fetch("/plans/check", { method: "POST", body: body, headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          var touched = {};
          form.querySelectorAll("[data-touched]").forEach(function (el) { touched[el.name] = true; });
          var errors = {};
          Object.keys(data.errors || {}).forEach(function (k) { if (touched[k]) errors[k] = data.errors[k]; });
          if (Object.keys(touched).some(function (k) { return k.indexOf("scores.") === 0; })) {
            errors.scores = (data.errors || {}).scores;
          }
          show(errors);
          showGroup(errors.scores);
          estimate.textContent = data.estimate || "";
        })
        .catch(function () { estimate.textContent = ""; });
    };
    form.addEventListener("input", function (ev) {
      if (ev.target && ev.target.name) ev.target.setAttribute("data-touched", "1");
      syncScores();
      clearTimeout(timer);
      timer = setTimeout(check, 300);
    });
    syncScores();
    check();
    var summary = document.getElementById("summary");
    if (summary) summary.focus();
  }
  var copy = document.getElementById("copy");
  if (copy && navigator.clipboard) {
    copy.hidden = false;
    copy.addEventListener("click", function () {
      navigator.clipboard.writeText(copy.getAttribute("data-url")).then(function () {
        copy.textContent = copy.getAttribute("data-done");
      });
    });
  }
})();
