// Optional: the "Copy" button of the page that shows a new token's secret (once).
// Without this script the button stays hidden and the secret is selected by hand.
(function () {
  "use strict";
  var button = document.getElementById("copy-secret");
  var field = document.getElementById("secret");
  var status = document.getElementById("copy-status");
  if (!button || !field) { return; }

  function say(text) {
    if (status) { status.textContent = text; }
  }

  function selectSecret() {
    field.focus();
    field.setSelectionRange(0, field.value.length);
  }

  function fallback() {
    selectSecret();
    var copied = false;
    try {
      copied = document.execCommand("copy");
    } catch (ignored) {
      copied = false;
    }
    say(copied ? "Copied to the clipboard." : "Selected: press Ctrl+C (\u2318C) to copy it.");
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () {
        say("Copied to the clipboard.");
      }, fallback);
    } else {
      fallback();
    }
  });
  field.addEventListener("focus", function () {
    field.setSelectionRange(0, field.value.length);
  });
}());
