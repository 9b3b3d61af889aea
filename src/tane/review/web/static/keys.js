// tane review: every action has a key (shown on its button as <kbd>).
// Keys act outside text boxes; Esc leaves a text box; Ctrl+Enter submits anywhere.
document.addEventListener("keydown", function (ev) {
  var t = ev.target;
  var typing = t && (t.tagName === "TEXTAREA" || (t.tagName === "INPUT" &&
               (t.type === "text" || t.type === "password")));
  if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") {
    var btn = document.querySelector("[data-submit]");
    if (btn) { ev.preventDefault(); btn.form.requestSubmit(btn); }
    return;
  }
  if (ev.key === "Escape" && typing) { t.blur(); return; }
  if (typing || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  var el = null;
  document.querySelectorAll("[data-key]").forEach(function (x) {
    if (x.getAttribute("data-key") === ev.key) el = x;
  });
  if (!el) return;
  ev.preventDefault();
  el.click();
  var focus = el.getAttribute("data-focus");
  if (focus) { var f = document.getElementById(focus); if (f) f.focus(); }
});
