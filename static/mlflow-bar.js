// The bar in MLflow's own pages (docs/clients.md#inside-mlflows-pages): who is signed in,
// "Access tokens", and "LDAP admin" for admins. mlflow_bar.py adds this script to
// MLflow's page; it asks the server who the browser is signed in as (data-me) and draws
// the bar. If anything fails (not signed in, network, an old browser) it draws nothing
// and throws nothing: MLflow's page is never the worse for it.
(function () {
  "use strict";
  var root = document.documentElement;
  var script = document.currentScript;
  var whoAmI = script && script.getAttribute("data-me");
  // What came of it, on <html data-ldap-auth-bar>: "shown", or "none".
  function done(outcome) { root.setAttribute("data-ldap-auth-bar", outcome); }
  if (!whoAmI || !window.fetch || !window.Promise) { done("none"); return; }
  var stylesheet = script.src.replace(/mlflow-bar\.js([?#].*)?$/, "mlflow-bar.css");

  // Only a path of this server: a link never leads elsewhere, nor runs script.
  function isLocalPath(value) {
    return typeof value === "string" && value.charAt(0) === "/" && value.charAt(1) !== "/" &&
      value.indexOf("\\") < 0;
  }

  function link(text, href, name) {
    var a = document.createElement("a");
    a.className = "ldap-auth-bar-link";
    a.href = href;
    a.textContent = text;
    a.setAttribute("data-link", name);
    return a;
  }

  // Sign out is a POST with the CSRF token (a link any page could make the browser follow
  // would sign people out); works as a plain form, so no script of ours runs on submit.
  function signOutForm(signOut) {
    var form = document.createElement("form");
    form.className = "ldap-auth-bar-sign-out";
    form.method = "post";
    form.action = signOut.action;
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = signOut.csrf_token;
    form.appendChild(token);
    var button = document.createElement("button");
    button.type = "submit";
    button.className = "ldap-auth-bar-link";
    button.textContent = "Sign out";
    button.setAttribute("data-link", "sign-out");
    form.appendChild(button);
    return form;
  }

  function bar(who) {
    var nav = document.createElement("nav");
    nav.id = "ldap-auth-bar";
    nav.className = "ldap-auth-bar";
    nav.setAttribute("aria-label", "Signed in");
    var user = document.createElement("span");
    user.className = "ldap-auth-bar-user";
    user.textContent = who.user;
    user.title = "Signed in as " + who.user;
    nav.appendChild(user);
    var links = who.links || {};
    if (isLocalPath(links.tokens)) { nav.appendChild(link("Access tokens", links.tokens, "tokens")); }
    if (isLocalPath(links.admin)) { nav.appendChild(link("LDAP admin", links.admin, "admin")); }
    // Set only for a person signed in by a session (whoami_api.sign_out_form).
    var signOut = who.sign_out;
    if (signOut && isLocalPath(signOut.action) && typeof signOut.csrf_token === "string") {
      nav.appendChild(signOutForm(signOut));
    }
    return nav;
  }

  function show(nav) {
    var style = document.createElement("link");
    style.rel = "stylesheet";
    style.href = stylesheet;
    // Drawn once its look has arrived: an unstyled bar would land under MLflow's page.
    style.onload = function () {
      document.body.insertBefore(nav, document.body.firstChild);
      root.classList.add("ldap-auth-bar-shown");
      done("shown");
    };
    style.onerror = function () { done("none"); };
    document.head.appendChild(style);
  }

  // A session can end while its page is open (signed out in another tab, idle, ended by
  // an admin): when the person comes back to the tab, the bar asks again, and a 401
  // reloads the page, which the server answers with the sign-in page.
  function watchSession() {
    function check() {
      if (document.visibilityState === "hidden") { return; }
      fetch(whoAmI, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" }
      }).then(function (answer) {
        if (answer.status === 401) { window.location.reload(); }
      }).catch(function () {});
    }
    window.addEventListener("focus", check);
    document.addEventListener("visibilitychange", check);
  }

  fetch(whoAmI, {
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" }
  }).then(function (answer) {
    return answer.ok ? answer.json() : null;
  }).then(function (who) {
    if (who && typeof who.user === "string" && who.user) {
      show(bar(who));
      if (who.sign_out) { watchSession(); }
    } else {
      done("none");
    }
  }).catch(function () { done("none"); });
})();
