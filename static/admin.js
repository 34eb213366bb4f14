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

// Optional: searches the chosen type's resources (experiments, models, skills, ...) while
// the name is typed and fills the mapping form's type and pattern on a click. Without it, the search form's
// submit button runs the same search on the server.
(function () {
  "use strict";
  var search = document.getElementById("resource-search");
  var form = document.getElementById("mapping-form");
  if (!search || !form) { return; }
  var kind = search.querySelector("#rtype");
  var text = search.querySelector("#rq");
  var list = document.getElementById("resource-results");
  if (!list) {
    list = document.createElement("ul");
    list.className = "results";
    list.id = "resource-results";
    search.parentNode.appendChild(list);
  }
  var timer = null;
  var asked = 0;
  function workspace() {
    var field = search.querySelector("#search-workspace") || form.querySelector("#workspace");
    return (field && field.value.trim()) || search.dataset.defaultWorkspace;
  }
  function show(resources) {
    while (list.firstChild) { list.removeChild(list.firstChild); }
    resources.forEach(function (r) {
      var item = document.createElement("li");
      var link = document.createElement("a");
      link.href = "#mapping-form";
      link.textContent = r.name || r.pattern;
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var type = form.querySelector("#resource_type");
        type.value = r.resource_type;
        type.dispatchEvent(new Event("change"));
        form.querySelector("#resource_pattern").value = r.pattern;
        form.querySelector("#resource_pattern").focus();
      });
      var code = document.createElement("code");
      code.textContent = r.pattern;
      item.appendChild(link);
      item.appendChild(document.createTextNode(" "));
      item.appendChild(code);
      list.appendChild(item);
    });
  }
  function ask() {
    var query = text.value.trim();
    if (!query) { show([]); return; }
    var mine = ++asked;
    var url = search.dataset.searchUrl +
      "?rtype=" + encodeURIComponent(kind.value) + "&rq=" + encodeURIComponent(query) +
      "&workspace=" + encodeURIComponent(workspace());
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : { resources: [] }; })
      .then(function (body) { if (mine === asked) { show(body.resources || []); } })
      .catch(function () { /* the submit button still works */ });
  }
  function later() { clearTimeout(timer); timer = setTimeout(ask, 200); }
  text.addEventListener("input", later);
  kind.addEventListener("change", later);
  // A name typed before this script arrived (it loads after the page) is searched now:
  // its input events came before the listener.
  if (text.value.trim()) { later(); }
}());
