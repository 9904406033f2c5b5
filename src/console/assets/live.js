// Live pages of the id2meta console (docs/console.md, "Live pages").
//
// A page that moves says so with <body data-live-every="N">. Every N seconds,
// while the tab is visible, this fetches the same URL again and replaces only
// the parts of each [data-live] element that changed, element by element, so
// the scroll position, a text selection outside the changed parts, and a
// half-typed search survive. Hidden tab: paused; shown again: updated at once.
// A page that stops moving (a finished batch) stops being fetched. Without
// scripts the page's <noscript> refresh does the same, whole.
(function () {
  "use strict";
  var every = parseInt(document.body.getAttribute("data-live-every"), 10);
  if (!(every > 0)) {
    return;
  }
  var timer = null;
  var busy = false;
  var stopped = false;

  function sameAttributes(a, b) {
    if (a.attributes.length !== b.attributes.length) {
      return false;
    }
    for (var i = 0; i < a.attributes.length; i++) {
      var attr = a.attributes[i];
      if (b.getAttribute(attr.name) !== attr.value) {
        return false;
      }
    }
    return true;
  }

  function syncAttributes(old, fresh) {
    for (var i = old.attributes.length - 1; i >= 0; i--) {
      var name = old.attributes[i].name;
      if (!fresh.hasAttribute(name)) {
        old.removeAttribute(name);
      }
    }
    for (var j = 0; j < fresh.attributes.length; j++) {
      var attr = fresh.attributes[j];
      if (old.getAttribute(attr.name) !== attr.value) {
        old.setAttribute(attr.name, attr.value);
      }
    }
    // A <progress> shows its property, not its attribute.
    if ("value" in old && old.tagName === "PROGRESS") {
      old.value = fresh.value;
    }
  }

  // Only elements among the children (no loose text): then each child can be
  // compared and kept on its own; otherwise the element's content is replaced.
  function elementsOnly(node) {
    for (var i = 0; i < node.childNodes.length; i++) {
      var child = node.childNodes[i];
      if (child.nodeType === 3 && child.nodeValue.trim() !== "") {
        return false;
      }
    }
    return true;
  }

  function morph(old, fresh) {
    if (!sameAttributes(old, fresh)) {
      syncAttributes(old, fresh);
    }
    if (old.innerHTML === fresh.innerHTML) {
      return;
    }
    if (!elementsOnly(old) || !elementsOnly(fresh)) {
      old.innerHTML = fresh.innerHTML;
      return;
    }
    var olds = Array.prototype.slice.call(old.children);
    var news = Array.prototype.slice.call(fresh.children);
    for (var i = 0; i < news.length; i++) {
      if (i >= olds.length) {
        old.appendChild(document.importNode(news[i], true));
      } else if (olds[i].tagName === news[i].tagName && olds[i].id === news[i].id) {
        morph(olds[i], news[i]);
      } else {
        old.replaceChild(document.importNode(news[i], true), olds[i]);
      }
    }
    for (var k = news.length; k < olds.length; k++) {
      old.removeChild(olds[k]);
    }
  }

  function schedule() {
    clearTimeout(timer);
    if (!stopped && !document.hidden) {
      timer = setTimeout(update, every * 1000);
    }
  }

  function update() {
    if (busy || stopped || document.hidden) {
      return;
    }
    busy = true;
    fetch(window.location.href, { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        // Sent elsewhere (a session that ended): the page as it is now, whole.
        if (response.redirected) {
          stopped = true;
          window.location.reload();
          return null;
        }
        return response.ok ? response.text() : null;
      })
      .then(function (html) {
        if (html === null) {
          return;
        }
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var parts = document.querySelectorAll("[data-live]");
        for (var i = 0; i < parts.length; i++) {
          var now = parts[i].id && fresh.getElementById(parts[i].id);
          if (now) {
            morph(parts[i], now);
          }
        }
        if (!fresh.body.hasAttribute("data-live-every")) {
          stopped = true;
        }
      })
      .catch(function () {
        // The console is unreachable for a moment: try again next time.
      })
      .then(function () {
        busy = false;
        schedule();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      clearTimeout(timer);
    } else {
      update();
    }
  });
  schedule();
})();
