// Optional: narrows the permission select and the pattern to what MLflow accepts for the
// chosen resource type. The page works without it; the server checks the same rules.
(function () {
  "use strict";
  var form = document.getElementById("mapping-form");
  if (!form) { return; }
  var rules = JSON.parse(form.dataset.rules || "{}");
  var type = form.querySelector("#resource_type");
  var permission = form.querySelector("#permission");
  var pattern = form.querySelector("#resource_pattern");
  function apply() {
    var rule = rules[type.value];
    if (!rule) { return; }
    var firstAllowed = null;
    Array.prototype.forEach.call(permission.options, function (option) {
      var allowed = rule.permissions.indexOf(option.value) >= 0;
      option.disabled = !allowed;
      option.hidden = !allowed;
      if (allowed && firstAllowed === null) { firstAllowed = option.value; }
    });
    if (permission.selectedOptions.length && permission.selectedOptions[0].disabled) {
      permission.value = firstAllowed;
    }
    if (rule.wildcard_only) { pattern.value = "*"; }
    pattern.readOnly = rule.wildcard_only;
  }
  type.addEventListener("change", apply);
  apply();
}());
