// <hub-tile tile="ID"></hub-tile>: a Social Hub tile on any LMS page (docs/embedding.md).
//
// Everything from the network is put in the page with DOM APIs (textContent, setAttribute): never innerHTML.
// An item's HTML was sanitized by the hub (nh3) before it was stored; here it is parsed again by DOMParser into
// an inert document (no scripts run, nothing loads) and rebuilt element by element from a smaller allow-list, so
// a mistake on either side is not enough for script to run in the LMS page.
(function () {
  "use strict";
  if (!window.customElements || window.customElements.get("hub-tile")) { return; }

  var script = document.currentScript;
  var HUB = script && script.src ? new URL(script.src).origin : "";
  var TAGS = { P: 1, BR: 1, A: 1, STRONG: 1, EM: 1, B: 1, I: 1, UL: 1, OL: 1, LI: 1, BLOCKQUOTE: 1, CODE: 1,
               PRE: 1, H3: 1, H4: 1 };
  var HEADINGS = { 2: "h2", 3: "h3", 4: "h4", 5: "h5", 6: "h6" };
  var CSS = [
    ":host { display: block; font: inherit; color: inherit; }",
    ":host([hidden]) { display: none; }",
    ".tile { border: 1px solid rgba(127,127,127,.35); border-radius: .5rem; padding: .75rem 1rem;",
    "  background: var(--hub-tile-background, transparent); }",
    ".title { font-size: 1.1em; line-height: 1.3; margin: 0 0 .5rem; }",
    ".status { margin: 0 0 .5rem; font-size: .875em; opacity: .85; }",
    ".status.stale { opacity: 1; padding: .25rem .5rem; border-left: 3px solid #b45309;",
    "  background: rgba(180,83,9,.08); }",
    "ul.items { list-style: none; margin: 0; padding: 0; }",
    "li.item { padding: .5rem 0; border-top: 1px solid rgba(127,127,127,.3); }",
    "li.item:first-child { border-top: 0; }",
    ".meta { display: flex; align-items: center; flex-wrap: wrap; gap: .5rem; margin: 0 0 .25rem; font-size: .85em; }",
    ".author { font-weight: 600; }",
    ".item-title { font-size: 1em; line-height: 1.3; margin: 0 0 .25rem; }",
    ".avatar { width: 2rem; height: 2rem; border-radius: 50%; object-fit: cover; }",
    ".body { margin: 0; overflow-wrap: anywhere; }",
    ".body p { margin: 0 0 .25rem; }",
    ".link { margin: .25rem 0 0; font-size: .875em; }",
    "a { color: var(--hub-tile-link, #0f6cbf); text-underline-offset: 2px; }",
    "a:focus-visible { outline: 3px solid var(--hub-tile-focus, #0f6cbf); outline-offset: 2px; border-radius: 2px; }",
    "@media (prefers-color-scheme: dark) { a { color: var(--hub-tile-link, #7ab8f5); } }",
    "@media (prefers-reduced-motion: no-preference) { li.item.new { animation: hub-tile-in .3s ease-out; } }",
    "@keyframes hub-tile-in { from { opacity: 0; } to { opacity: 1; } }"
  ].join("\n");

  function styleFor(root) {
    // A constructed stylesheet is not subject to the LMS page's CSP style-src; a <style> element is the fallback.
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      root.adoptedStyleSheets = [sheet];
    } catch (e) {
      var style = document.createElement("style");
      style.textContent = CSS;
      root.appendChild(style);
    }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function safeHref(value) {
    return typeof value === "string" && /^(https?:\/\/|mailto:)/i.test(value) ? value : null;
  }

  function rebuild(source, target) {
    // Copy only allowed elements (and only href on links); everything else keeps its text and loses its markup.
    for (var child = source.firstChild; child; child = child.nextSibling) {
      if (child.nodeType === 3) {
        target.appendChild(document.createTextNode(child.nodeValue));
      } else if (child.nodeType === 1) {
        if (TAGS[child.tagName]) {
          var copy = document.createElement(child.tagName.toLowerCase());
          if (child.tagName === "A") {
            var href = safeHref(child.getAttribute("href"));
            if (href) { copy.setAttribute("href", href); }
            copy.setAttribute("rel", "noopener noreferrer nofollow");
            copy.setAttribute("target", "_blank");
          }
          rebuild(child, copy);
          target.appendChild(copy);
        } else if (!/^(SCRIPT|STYLE|TEMPLATE|IFRAME|OBJECT|EMBED|SVG|MATH|NOSCRIPT)$/.test(child.tagName)) {
          rebuild(child, target);
        }
      }
    }
  }

  function sanitizedBody(html) {
    var doc = new DOMParser().parseFromString(String(html), "text/html");
    var body = el("div", "body");
    rebuild(doc.body, body);
    return body;
  }

  function when(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return null; }
    var time = el("time", null, date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
    time.setAttribute("datetime", iso);
    return time;
  }

  class HubTile extends HTMLElement {
    connectedCallback() {
      if (!this.shadowRoot) {
        var root = this.attachShadow({ mode: "open" });
        styleFor(root);
        this.box = el("section", "tile");
        this.heading = el(HEADINGS[this.getAttribute("heading-level")] || "h2", "title", "Loading…");
        this.heading.id = "title";
        this.box.setAttribute("aria-labelledby", "title");
        this.status = el("p", "status");
        this.status.setAttribute("aria-live", "polite");
        this.list = el("ul", "items");
        this.box.append(this.heading, this.status, this.list);
        root.appendChild(this.box);
        this.seen = null;
      }
      window.clearInterval(this.timer);  // connected again after a move: one timer
      this.load(true);
      var seconds = Math.max(30, parseInt(this.getAttribute("refresh") || "60", 10) || 60);
      var self = this;
      this.timer = window.setInterval(function () {
        if (!document.hidden) { self.load(false); }
      }, seconds * 1000);
    }

    disconnectedCallback() { window.clearInterval(this.timer); }

    url() {
      var base = this.getAttribute("hub") || HUB;
      return base.replace(/\/$/, "") + "/api/tiles/" + encodeURIComponent(this.getAttribute("tile") || "");
    }

    load(first) {
      var self = this;
      // Credentials: a tile for given organisations is served only to a viewer with a hub session.
      return fetch(this.url(), { credentials: "include", mode: "cors", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 404) { throw new Error("gone"); }
          if (!response.ok) { throw new Error("failed"); }
          return response.json();
        })
        .then(function (tile) { self.render(tile, first); })
        .catch(function (error) {
          self.setAttribute("data-state", "error");
          if (first || error.message === "gone") {
            self.heading.textContent = self.getAttribute("label") || "Feed";
            self.status.textContent = error.message === "gone"
              ? "This feed is not available here. You may need to sign in to the hub."
              : "This feed could not be loaded. It will try again shortly.";
          }
        });
    }

    render(tile, first) {
      var signature = JSON.stringify(tile);
      if (signature === this.seen) { return; }
      var known = {};
      Array.prototype.forEach.call(this.list.children, function (li) { known[li.getAttribute("data-id")] = 1; });
      this.seen = signature;
      this.heading.textContent = tile.title;
      this.status.className = tile.stale ? "status stale" : "status";
      var fresh = 0;
      var items = tile.items || [];
      this.list.replaceChildren();
      for (var i = 0; i < items.length; i++) {
        var item = items[i];
        var isNew = !first && !known[item.id];
        if (isNew) { fresh++; }
        this.list.appendChild(this.itemNode(item, isNew));
      }
      var text = tile.stale ? "Showing the last posts we could fetch: this feed is not answering right now." : "";
      if (!items.length) { text = text || "Nothing here yet."; }
      if (fresh) { text = (fresh === 1 ? "1 new post." : fresh + " new posts.") + (text ? " " + text : ""); }
      this.status.textContent = text;
      this.status.hidden = !text;
      this.setAttribute("data-state", tile.stale ? "stale" : "ready");
    }

    itemHeading() {
      // One level below the tile's own heading (h2 unless the page asked for another level).
      var level = Number(this.getAttribute("heading-level")) || 2;
      return HEADINGS[Math.min(level + 1, 6)] || "h6";
    }

    itemNode(item, isNew) {
      var li = el("li", isNew ? "item new" : "item");
      li.setAttribute("data-id", String(item.id));
      var article = el("article");
      article.setAttribute("aria-label", item.title || item.author || "Post");
      if (item.title) { article.appendChild(el(this.itemHeading(), "item-title", item.title)); }
      var meta = el("p", "meta");
      if (typeof item.avatar === "string" && HUB && item.avatar.indexOf(HUB + "/") === 0) {
        var img = el("img", "avatar");
        img.alt = "";
        img.referrerPolicy = "no-referrer";
        img.width = 32;
        img.height = 32;
        img.addEventListener("error", function () { img.remove(); });
        img.src = item.avatar;
        meta.appendChild(img);
      }
      if (item.author) { meta.appendChild(el("span", "author", item.author)); }
      var time = item.published ? when(item.published) : null;
      if (time) { meta.appendChild(time); }
      if (meta.childNodes.length) { article.appendChild(meta); }
      article.appendChild(item.html ? sanitizedBody(item.html) : el("p", "body", item.text || ""));
      var href = safeHref(item.link);
      if (href && !/^mailto:/i.test(href)) {
        var p = el("p", "link");
        var a = el("a", null, "Open post");
        a.href = href;
        a.rel = "noopener noreferrer nofollow";
        a.target = "_blank";
        a.setAttribute("aria-label", item.author ? "Open post by " + item.author : "Open post");
        p.appendChild(a);
        article.appendChild(p);
      }
      li.appendChild(article);
      return li;
    }
  }

  window.customElements.define("hub-tile", HubTile);
})();
