// planstream teacher page: optional enhancements; the page works without this file.
// - While the teacher types, the form is checked by the server's own rules
//   (POST /plans/check) and the plan's size is shown before it is made.
//   Only fields the teacher has touched get a message, so messages the server
//   rendered for a submitted form stay until their field is changed.
// - The plan page gets a button that copies the download link.
(function () {
  "use strict";
  var form = document.getElementById("plan-form");
  var touched = {};

  function errorId(name) { return "err-" + name.replace(".", "-"); }

  function setMessage(el, id, msg, where) {
    var old = document.getElementById(id);
    var ids = (el.getAttribute("aria-describedby") || "").split(" ").filter(function (x) {
      return x && x !== id;
    });
    if (msg) {
      if (!old) {
        old = document.createElement("p");
        old.className = "error";
        old.id = id;
        where(old);
      }
      old.textContent = msg;
      ids.push(id);
    } else if (old) {
      old.parentNode.removeChild(old);
    }
    el.setAttribute("aria-describedby", ids.join(" "));
  }

  function show(errors) {
    var scores = document.getElementById("f-scores");
    Object.keys(touched).forEach(function (name) {
      var el = form.elements.namedItem(name);
      if (!el || el.type === "radio" || !el.setAttribute) return;
      var msg = errors[name];
      setMessage(el, errorId(name), msg, function (p) { el.parentNode.appendChild(p); });
      var groupBad = name.indexOf("scores.") === 0 && errors.scores;
      if (msg || groupBad) el.setAttribute("aria-invalid", "true");
      else el.removeAttribute("aria-invalid");
    });
    var anyScore = Object.keys(touched).some(function (k) { return k.indexOf("scores.") === 0; });
    if (anyScore && scores) {
      setMessage(scores, "err-scores", errors.scores, function (p) {
        scores.insertBefore(p, scores.querySelector(".grid"));
      });
    }
  }

  function check(initial) {
    var body = new URLSearchParams(new FormData(form));
    fetch("/plans/check", { method: "POST", body: body, headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (!initial) show(data.errors || {});
        document.getElementById("estimate").textContent = data.estimate || "";
      })
      .catch(function () { document.getElementById("estimate").textContent = ""; });
  }

  if (form) {
    var timer = null;
    var focusMode = document.getElementById("f-mode-focus");
    var syncScores = function () {
      var off = focusMode && focusMode.checked;
      form.querySelectorAll(".scores input").forEach(function (el) { el.disabled = off; });
    };
    form.addEventListener("input", function (ev) {
      if (ev.target && ev.target.name) touched[ev.target.name] = true;
      syncScores();
      clearTimeout(timer);
      timer = setTimeout(function () { check(false); }, 250);
    });
    syncScores();
    check(true);
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
