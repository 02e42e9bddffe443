/* smscast storefront sign-up form. No dependencies, no framework, no cookies.
 *
 *   <script src="https://<smscast>/static/signup.js" data-smscast-shop="demo.myshopify.com" async></script>
 *
 * Options (attributes of the script tag):
 *   data-smscast-shop    the shop id (required)
 *   data-smscast-target  a CSS selector: render the form inside that element instead of as a popup
 *   data-smscast-delay   seconds before the popup opens (default 5); a visitor who closed it or signed up is not asked again
 *   data-smscast-api     the smscast address, when the script is served from elsewhere (a Shopify theme extension)
 *
 * The form shows the shop's own consent wording (GET /signup/{shop}/form) and posts the phone, that wording and
 * the page's address to POST /signup/{shop}. The answer is the same whatever the number's state: "check your
 * phone and reply Y" (double opt-in: nobody is subscribed until they confirm from their phone).
 */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-smscast-shop]");
  if (!script) return;
  var shop = script.getAttribute("data-smscast-shop");
  var target = script.getAttribute("data-smscast-target");
  if (!shop) return;
  if (!target) {
    if (window.__smscastPopup) return; // one popup a page, however many tags load the script
    window.__smscastPopup = true;
  }
  var api = (script.getAttribute("data-smscast-api") || script.src.replace(/\/static\/signup\.js(\?.*)?$/, "")).replace(/\/+$/, "");
  var delay = Number(script.getAttribute("data-smscast-delay") || "5");
  var DISMISSED = "smscast-signup-closed:" + shop;
  var base = api + "/signup/" + encodeURIComponent(shop);

  var MESSAGES = {
    invalid_phone: "Please enter a valid mobile number.",
    too_many_requests: "Too many tries. Please try again later.",
    unknown_shop: "Sign-up is not available right now.",
    signups_unavailable: "Sign-up is not available right now.",
  };
  var CSS =
    ".smscast-signup{font:inherit;color:#1f2328;background:#fff;max-width:380px;box-sizing:border-box;padding:20px;border-radius:10px}" +
    ".smscast-signup *{box-sizing:border-box}" +
    ".smscast-signup h2{font-size:1.25em;margin:0 0 12px}" +
    ".smscast-signup label{display:block;font-weight:600;margin:8px 0 4px}" +
    ".smscast-signup input,.smscast-signup select{width:100%;font:inherit;padding:8px 10px;border:1px solid #8c959f;border-radius:6px}" +
    ".smscast-signup .smscast-row{display:flex;gap:8px}.smscast-signup .smscast-row select{width:auto}" +
    ".smscast-signup button[type=submit]{margin-top:12px;width:100%;font:inherit;font-weight:600;padding:10px;border:0;border-radius:6px;background:#1f2328;color:#fff;cursor:pointer}" +
    ".smscast-signup button[disabled]{opacity:.6;cursor:wait}" +
    ".smscast-signup .smscast-consent{font-size:.8em;line-height:1.4;color:#57606a;margin:10px 0 0}" +
    ".smscast-signup .smscast-status{margin:10px 0 0;min-height:1.2em}.smscast-signup .smscast-error{color:#b42318}" +
    ".smscast-backdrop{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:2147483000;padding:16px}" +
    ".smscast-backdrop .smscast-signup{position:relative;width:100%;box-shadow:0 10px 30px rgba(0,0,0,.3)}" +
    ".smscast-close{position:absolute;top:6px;right:8px;border:0;background:none;font-size:1.5em;line-height:1;cursor:pointer;color:#57606a;padding:4px}";

  // Text only ever goes in as textContent: the shop's name and wording can never become markup.
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) node.setAttribute(name, attrs[name]);
    (children || []).forEach(function (child) {
      if (child) node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function requestId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // The consent record keeps the page the form was on; a very long address keeps its page without the query.
  function pageUrl() {
    var href = location.href;
    return href.length <= 2048 ? href : location.origin + location.pathname;
  }

  function loadForm() {
    return fetch(base + "/form", { credentials: "omit" }).then(function (response) {
      if (!response.ok) throw new Error("form " + response.status);
      return response.json();
    });
  }

  function render(view, container, onDone) {
    var uid = "smscast-" + Math.random().toString(36).slice(2, 8);
    var phone = el("input", { id: uid + "-phone", name: "phone", type: "tel", autocomplete: "tel", inputmode: "tel", required: "", "aria-describedby": uid + "-consent " + uid + "-status" });
    var country = null;
    if (view.countries.length > 1) {
      country = el("select", { id: uid + "-country", name: "country", "aria-label": "Country" },
        view.countries.map(function (code) { return el("option", { value: code }, [code]); }));
    }
    var consent = el("p", { id: uid + "-consent", "class": "smscast-consent" }, [view.consent_text]);
    var status = el("p", { id: uid + "-status", "class": "smscast-status", role: "status", "aria-live": "polite" });
    var submit = el("button", { type: "submit" }, ["Sign up"]);
    var form = el("form", { "class": "smscast-form", novalidate: "" }, [
      el("label", { "for": uid + "-phone" }, ["Mobile number"]),
      el("div", { "class": "smscast-row" }, [country, phone]),
      consent, submit, status,
    ]);
    var pending = null; // one submission's id, sent again only if that submission never got an answer
    var box = el("div", { "class": "smscast-signup", "data-smscast-form": shop }, [
      el("h2", { id: uid + "-title" }, ["Get texts from " + view.shop_name]), form,
    ]);

    function say(text, isError) {
      status.textContent = text;
      status.className = "smscast-status" + (isError ? " smscast-error" : "");
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (!phone.value.trim()) { say("Please enter your mobile number.", true); phone.focus(); return; }
      pending = pending || requestId();
      submit.disabled = true;
      say("Sending…", false);
      fetch(base, {
        method: "POST",
        credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          phone: phone.value.trim(),
          country: country ? country.value : view.countries[0],
          consent_text: view.consent_text,
          page_url: pageUrl(),
          request_id: pending,
        }),
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) { return { status: response.status, data: data }; });
      }).then(function (answer) {
        pending = null;
        submit.disabled = false;
        if (answer.status === 202) {
          form.replaceWith(el("p", { "class": "smscast-status", role: "status" }, ["Check your phone: reply Y to the text we just sent to confirm your subscription."]));
          if (onDone) onDone();
          return;
        }
        var code = (answer.data.error || {}).code;
        if (code === "consent_text_changed") {
          // The shop changed its wording since this page loaded: show the new one and ask again.
          return loadForm().then(function (fresh) {
            view.consent_text = fresh.consent_text;
            consent.textContent = fresh.consent_text;
            say("Please read the updated terms and sign up again.", true);
          });
        }
        if (code === "country_not_allowed") { say("We can only text numbers in " + view.countries.join(", ") + ".", true); return; }
        say(MESSAGES[code] || "Something went wrong. Please try again.", true);
        if (code === "invalid_phone") phone.focus();
      }).catch(function () {
        submit.disabled = false; // no answer: the same id goes again, so a retry never texts twice
        say("Could not reach us. Please try again.", true);
      });
    });
    container.appendChild(box);
    return { box: box, phone: phone, titleId: uid + "-title" };
  }

  function popup(view) {
    var opener = document.activeElement;
    var backdrop = el("div", { "class": "smscast-backdrop" });
    var rendered = render(view, backdrop, remember); // signed up: not asked again either
    var close = el("button", { type: "button", "class": "smscast-close", "aria-label": "Close" }, ["×"]);
    rendered.box.setAttribute("role", "dialog");
    rendered.box.setAttribute("aria-modal", "true");
    rendered.box.setAttribute("aria-labelledby", rendered.titleId);
    rendered.box.insertBefore(close, rendered.box.firstChild);
    function remember() {
      try { localStorage.setItem(DISMISSED, "1"); } catch (e) { /* private mode: asked again next visit */ }
    }
    function shut() {
      remember();
      backdrop.remove();
      document.removeEventListener("keydown", onKey);
      if (opener && opener.focus) opener.focus();
    }
    function onKey(event) { if (event.key === "Escape") shut(); }
    close.addEventListener("click", shut);
    backdrop.addEventListener("click", function (event) { if (event.target === backdrop) shut(); });
    document.addEventListener("keydown", onKey);
    document.body.appendChild(backdrop);
    rendered.phone.focus();
  }

  function start() {
    if (!document.getElementById("smscast-signup-style")) document.head.appendChild(el("style", { id: "smscast-signup-style" }, [CSS]));
    loadForm().then(function (view) {
      if (target) {
        var container = document.querySelector(target);
        if (container) render(view, container, null);
        return;
      }
      var closed = false;
      try { closed = localStorage.getItem(DISMISSED) === "1"; } catch (e) { closed = false; }
      if (!closed) setTimeout(function () { popup(view); }, Math.max(0, delay) * 1000);
    }).catch(function () { /* no form for this shop: the page stays as it is */ });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
