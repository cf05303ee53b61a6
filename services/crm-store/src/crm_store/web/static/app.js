// The managers' page: forms marked data-async are sent with fetch, so one click sets a status
// and the item leaves the list without a page reload. Without this script every form still
// works as a plain POST followed by a redirect.
(function () {
  "use strict";

  var live = document.getElementById("live");
  var csrf = document.querySelector('meta[name="csrf-token"]');
  var lang = document.documentElement.lang || undefined;

  // The page's words in the user's language: the server puts them on <html data-strings>.
  var strings = {};
  try { strings = JSON.parse(document.documentElement.getAttribute("data-strings") || "{}"); } catch (e) { strings = {}; }
  function t(text) { return strings[text] || text; }

  function say(text) {
    if (!live || !text) return;
    live.textContent = "";
    window.setTimeout(function () { live.textContent = text; }, 50);
  }

  var format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      if (node.textContent === node.getAttribute("title")) node.textContent = format.format(when);
      node.setAttribute("title", format.format(when));
    });
  }

  // "Call back at a set time": the picker shows the browser's local time; the form says which
  // zone that is, and the picker offers no time before now.
  function pickers(root) {
    var zone = "";
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { zone = ""; }
    root.querySelectorAll("input[data-zone]").forEach(function (node) { node.value = zone; });
    var now = new Date();
    var pad = function (n) { return String(n).padStart(2, "0"); };
    var local = function (d) {
      return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
        pad(d.getHours()) + ":" + pad(d.getMinutes());
    };
    root.querySelectorAll("input[data-future]").forEach(function (node) {
      node.min = local(now);
    });
  }

  function fromHtml(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    var node = template.content.firstElementChild;
    if (node) { localTimes(node); pickers(node); }
    return node;
  }

  function replace(id, html) {
    var old = document.getElementById(id);
    var fresh = fromHtml(html);
    if (old && fresh) old.replaceWith(fresh);
    return fresh;
  }

  // Where removed cards stood, so "Undo" puts a card back in its place.
  var removedAt = {};

  function removeItem(id) {
    var item = document.getElementById(id);
    if (!item) return;
    var list = item.parentElement;
    removedAt[id] = { list: list, before: item.nextElementSibling };
    var next = item.nextElementSibling || item.previousElementSibling;
    var hadFocus = item.contains(document.activeElement);
    item.remove();
    var focusTarget = next && next.querySelector("article");
    if (focusTarget) {
      if (hadFocus) focusTarget.focus();
    } else if (list && !list.children.length) {
      var empty = document.createElement("p");
      empty.className = "empty";
      empty.textContent = list.getAttribute("data-empty") || "Nothing left.";
      list.after(empty);
      if (hadFocus) document.getElementById("main").focus();
    }
  }

  function restoreItem(id, html) {
    if (document.getElementById(id)) { replace(id, html); return; }
    var fresh = fromHtml(html);
    var place = removedAt[id] || {};
    var list = place.list && place.list.isConnected ? place.list : document.getElementById("items");
    if (!fresh || !list) return;
    if (place.before && place.before.parentElement === list) {
      list.insertBefore(fresh, place.before);
    } else {
      list.insertBefore(fresh, list.firstElementChild);
    }
    delete removedAt[id];
    var empty = list.nextElementSibling;
    if (empty && empty.classList.contains("empty")) empty.remove();
    var article = fresh.querySelector("article");
    if (article) article.focus();
  }

  function showError(form, text) {
    var box = form.querySelector(".form-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "form-error error";
      box.setAttribute("role", "alert");
      form.appendChild(box);
    }
    box.textContent = text;
  }

  function apply(form, data) {
    var box = form.querySelector(".form-error");
    if (box) box.remove();
    if (data.counters) replace("counters", data.counters);
    if (data.target) {
      var target = document.getElementById(data.target.id);
      if (target) target.innerHTML = data.target.html;
    }
    if (data.replace) {
      var fresh = replace(data.replace.id, data.replace.html);
      var article = fresh && fresh.querySelector("article");
      if (article) article.focus();
    }
    if (data.remove) removeItem(data.remove);
    if (data.restore) restoreItem(data.restore.id, data.restore.html);
    var toast = document.getElementById("toast");
    if (toast && typeof data.toast === "string") toast.innerHTML = data.toast;
    say(data.message);
  }

  function describe(data) {
    var text = data.error || t("Something went wrong");
    if (data.detail) text += ": " + data.detail;
    if (data.candidates && data.candidates.length) {
      text += " (" + data.candidates.map(function (c) { return c.name; }).join(", ") + ")";
    }
    return text;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-async") || !window.fetch) {
      return;
    }
    event.preventDefault();
    var body = new URLSearchParams();
    new FormData(form).forEach(function (value, name) { body.append(name, String(value)); });
    var submitter = event.submitter;
    if (submitter && submitter.name) body.append(submitter.name, submitter.value);
    var buttons = Array.prototype.slice.call(form.querySelectorAll("button"));
    buttons.forEach(function (b) { b.disabled = true; });
    form.setAttribute("aria-busy", "true");

    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "X-Requested-With": "fetch",
        "X-CSRF-Token": csrf ? csrf.content : ""
      }
    })
      .then(function (response) {
        return response.json()
          .catch(function () { return { error: t("Unexpected answer"), detail: "HTTP " + response.status }; })
          .then(function (data) { data.status = response.status; return data; });
      })
      .then(function (data) {
        if (data.status === 401) { window.location.assign("/login"); return; }
        if (data.error) { showError(form, describe(data)); say(describe(data)); return; }
        apply(form, data);
      })
      .catch(function () {
        showError(form, t("The network failed: nothing was changed. Please try again."));
      })
      .finally(function () {
        buttons.forEach(function (b) { if (b.isConnected) b.disabled = false; });
        form.removeAttribute("aria-busy");
      });
  });

  // Live: the server streams what changed in this inbox (server-sent events); new cards come
  // in, closed ones leave, changed ones are redrawn. Without EventSource, poll what the newest
  // item is and offer to show new ones.
  var list = document.querySelector("[data-state]");
  var news = document.getElementById("news");

  function holding(ids) {
    if (!list) return [];
    return Array.prototype.slice.call(list.children).filter(function (node) {
      var held = (node.getAttribute("data-ids") || "").split(" ");
      return ids.some(function (id) { return held.indexOf(id) >= 0; });
    });
  }

  function dropEmptyNote() {
    var empty = list.nextElementSibling;
    if (empty && empty.classList.contains("empty")) empty.remove();
  }

  function showCard(data) {
    var fresh = fromHtml(data.html);
    if (!fresh) return;
    var old = holding(data.was.concat(data.ids));
    if (old.length === 1 && old[0].getAttribute("data-version") === data.version) return;
    var hadFocus = old.some(function (node) { return node.contains(document.activeElement); });
    var anchor = old.length ? old[0] : list.children[data.pos] || null;
    list.insertBefore(fresh, anchor);
    old.forEach(function (node) { node.remove(); });
    dropEmptyNote();
    if (hadFocus) {
      var article = fresh.querySelector("article");
      if (article) article.focus();
    }
    if (!old.length) say("New: " + (fresh.querySelector(".who") || fresh).textContent.trim());
  }

  function dropCards(ids) {
    holding(ids).forEach(function (node) { removeItem(node.id); });
  }

  function liveJson(handler) {
    return function (message) {
      var data;
      try { data = JSON.parse(message.data); } catch (e) { return; }
      handler(data);
    };
  }

  function goLive() {
    var source = new EventSource(list.getAttribute("data-live"));
    source.addEventListener("sync", liveJson(function (data) {
      Array.prototype.slice.call(list.children).forEach(function (node) {
        var held = (node.getAttribute("data-ids") || "").split(" ");
        if (!held.some(function (id) { return data.open.indexOf(id) >= 0; })) removeItem(node.id);
      });
    }));
    source.addEventListener("card", liveJson(showCard));
    source.addEventListener("gone", liveJson(function (data) { dropCards(data.was); }));
    source.addEventListener("counters", liveJson(function (data) { replace("counters", data.html); }));
    source.addEventListener("end", function () {
      source.close();
      list.removeAttribute("data-live-open");
      say(t("Live updates stopped: your session has ended."));
    });
    source.addEventListener("open", function () { list.setAttribute("data-live-open", ""); });
    source.addEventListener("error", function () { list.removeAttribute("data-live-open"); });
  }

  var POLL_MS = 15000;
  function poll() {
    if (document.hidden || !news.hidden) return;
    fetch(list.getAttribute("data-state"), {
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-Requested-With": "fetch" }
    })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        // A card holds several items (data-ids): the newest may be on one already shown.
        if (data && data.newest && !document.querySelector('[data-ids~="' + CSS.escape(data.newest) + '"]')) {
          news.hidden = false;
          say(t("New items arrived."));
        }
      })
      .catch(function () { /* offline for a moment: try again at the next tick */ });
  }
  if (list && list.hasAttribute("data-live") && window.EventSource) {
    goLive();
  } else if (list && news && window.fetch) {
    window.setInterval(poll, POLL_MS);
    news.querySelector("[data-reload]").addEventListener("click", function () {
      window.location.reload();
    });
  }

  // Keys on the inbox: j/k move between cards, 1-9 pick the card's presets in order, n opens
  // its note, u undoes the last click. Never while typing in a field.
  function cardOf(node) {
    return node && node.closest ? node.closest(".item") : null;
  }
  function cards() {
    return Array.prototype.slice.call(document.querySelectorAll("#items > .item"));
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
    if (event.key === "u") {
      var undo = document.querySelector("#toast button");
      if (undo) { undo.click(); event.preventDefault(); }
      return;
    }
    var all = cards();
    if (!all.length) return;
    var current = cardOf(document.activeElement);
    var index = current ? all.indexOf(current) : -1;
    var key = event.key;
    if (key === "j" || key === "k") {
      var next = key === "j" ? Math.min(index + 1, all.length - 1) : Math.max(index - 1, 0);
      all[next].querySelector("article").focus();
      all[next].scrollIntoView({ block: "nearest" });
      event.preventDefault();
    } else if (/^[1-9]$/.test(key) && current) {
      var button = current.querySelectorAll(".presets button")[Number(key) - 1];
      if (button) { button.click(); event.preventDefault(); }
    } else if (key === "n" && current) {
      var note = current.querySelector("details.note-field");
      if (note) {
        note.open = true;
        note.querySelector("textarea").focus();
        event.preventDefault();
      }
    }
  });

  // Times are rendered in UTC; show them in the browser's time zone.
  localTimes(document);
  pickers(document);
})();
