// The review form from the keyboard alone: a accepts all, t/p/c focus a head's choice
// (arrows change it), n the note, Enter saves, s skips; Escape leaves a field.
(function () {
  "use strict";
  var form = document.getElementById("decide");
  if (!form) { return; }
  function press(id) {
    var button = document.getElementById(id);
    if (button) { form.requestSubmit(button); }
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var target = event.target;
    var typing = target.tagName === "TEXTAREA" || (target.tagName === "INPUT" && target.type !== "hidden");
    if (event.key === "Escape") { target.blur(); return; }
    if (typing) { return; }
    if (event.key === "Enter" && target.tagName === "SELECT") {
      event.preventDefault();
      press("save");
      return;
    }
    if (target.tagName === "BUTTON" || target.tagName === "A") { return; }
    var key = event.key.toLowerCase();
    if (key === "a") { event.preventDefault(); press("accept"); }
    else if (key === "s") { event.preventDefault(); press("skip"); }
    else if (key === "n") { event.preventDefault(); document.getElementById("note").focus(); }
    else if (event.key === "Enter") { event.preventDefault(); press("save"); }
    else {
      var select = form.querySelector('select[data-key="' + key + '"]');
      if (select) { event.preventDefault(); select.focus(); }
    }
  });
}());
