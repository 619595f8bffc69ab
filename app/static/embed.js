// facegate's carousel on the campaign's own page, with one tag:
//   <script src="https://facegate.example/embed.js" defer></script>
// It fills every element with class "deep-fake-carousel" or attribute "data-facegate-carousel".
// README, "The carousel on your own page", documents every attribute. No build step, no library;
// one global (window.FacegateCarousel), no CSS outside its containers, errors shown in them.
(function () {
  "use strict";

  if (window.FacegateCarousel) {
    window.FacegateCarousel.scan(); // the tag twice on one page: one carousel per container
    return;
  }

  const SELECTOR = ".deep-fake-carousel, [data-facegate-carousel]";
  const PAGE_SIZE = 12;
  const ROTATE_SECONDS = 5;
  const POLL_SECONDS = 15;
  const MIN_POLL_SECONDS = 5;
  const TEXT = {
    empty: "No approved uploads yet.",
    link: "Be the first!",
    loading: "Loading…",
  };
  // facegate's address is where this script came from (currentScript is null once it has run).
  const SCRIPT_BASE = baseOf(document.currentScript && document.currentScript.src);
  const blockedByPolicy = new Set(); // origins the page's Content-Security-Policy refused
  const clients = new Map(); // facegate address -> Facegate
  const mounted = new WeakMap(); // container -> Carousel

  document.addEventListener("securitypolicyviolation", (event) => {
    try {
      blockedByPolicy.add(new URL(event.blockedURI).origin);
    } catch (_) {
      // "inline", "eval": not a URL, not ours
    }
  });

  function baseOf(src) {
    if (!src) return null;
    const url = new URL(src, document.baseURI);
    url.search = "";
    url.hash = "";
    return url.href.replace(/[^/]*$/, ""); // the folder of embed.js: facegate may sit under a path
  }

  class EmbedError extends Error {}

  // One facegate: its answers, shared by every container that shows it.
  class Facegate {
    constructor(base) {
      this.base = base.endsWith("/") ? base : base + "/";
      this.origin = new URL(this.base).origin;
      this.feeds = new Map(); // slug -> Feed
      this.carousels = new Set();
      this.started = null;
      this.timer = null;
    }

    url(path) {
      return this.base + path.replace(/^\//, "");
    }

    // "no-cache": the browser revalidates its copy with If-None-Match (an ETag it keeps itself, so
    // no CORS preflight), and an unchanged list costs a 304.
    async get(path) {
      let response;
      try {
        response = await fetch(this.url(path), { cache: "no-cache", credentials: "omit" });
      } catch (_) {
        throw await this.unreachable();
      }
      if (!response.ok) throw await answerError(response, path);
      return response;
    }

    async json(path) {
      return (await this.get(path)).json();
    }

    // fetch() says only "Failed to fetch": tell a page the CORS list leaves out from a facegate
    // that is down. A no-cors request reaches facegate whatever its CORS list says.
    async unreachable() {
      const page = window.location.origin;
      if (blockedByPolicy.has(this.origin)) {
        return new EmbedError(
          `This page's Content-Security-Policy blocks facegate (${this.origin}): allow it in` +
            " script-src, connect-src and img-src."
        );
      }
      try {
        await fetch(this.url("healthz"), { mode: "no-cors", cache: "no-store", credentials: "omit" });
      } catch (_) {
        return new EmbedError(`facegate (${this.origin}) cannot be reached right now.`);
      }
      if (page === "null") {
        return new EmbedError(
          "This page has no origin (opened from a file?): serve it over http(s) and add its" +
            " origin to FACEGATE_CORS_ORIGINS."
        );
      }
      return new EmbedError(
        `facegate (${this.origin}) does not let this page's origin (${page}) read the carousel:` +
          ` add ${page} to FACEGATE_CORS_ORIGINS and restart facegate.`
      );
    }

    // /site and the profiles, once per page.
    start() {
      this.started = this.started || Promise.all([this.json("site"), this.json("politicians")]);
      return this.started;
    }

    feed(slug) {
      if (!this.feeds.has(slug)) this.feeds.set(slug, new Feed(this, slug));
      return this.feeds.get(slug);
    }

    // One poll for every carousel of this facegate, at the shortest interval any of them asks.
    add(carousel) {
      this.carousels.add(carousel);
      const seconds = Math.min(...Array.from(this.carousels, (c) => c.options.pollSeconds));
      if (this.timer && this.timer.seconds === seconds) return;
      if (this.timer) clearInterval(this.timer.id);
      this.timer = { seconds, id: setInterval(() => this.poll(), seconds * 1000) };
    }

    async poll() {
      if (document.hidden) return;
      const live = Array.from(this.carousels).filter((c) => c.visible);
      const slugs = new Set(live.flatMap((c) => c.cards.map((card) => card.feed.slug)));
      await Promise.all(Array.from(slugs, (slug) => this.feed(slug).refresh().catch(warn)));
    }
  }

  // One politician's approved uploads, newest first; older pages only when the rotation gets there.
  class Feed {
    constructor(facegate, slug) {
      this.facegate = facegate;
      this.slug = slug;
      this.items = [];
      this.cursor = null;
      this.etag = null;
      this.cards = new Set();
      this.loading = null;
    }

    path(cursor) {
      const query = new URLSearchParams({ politician: this.slug, limit: String(PAGE_SIZE) });
      if (cursor) query.set("cursor", String(cursor));
      return `approved?${query}`;
    }

    async refresh() {
      const response = await this.facegate.get(this.path(null));
      const etag = response.headers.get("ETag");
      if (etag && etag === this.etag) return; // the browser's 304: nothing changed
      const body = await response.json();
      this.etag = etag;
      this.items = body.items;
      this.cursor = body.next_cursor;
      this.cards.forEach((card) => card.update());
    }

    async more() {
      if (this.cursor === null || this.loading) return;
      this.loading = this.facegate.json(this.path(this.cursor));
      try {
        const body = await this.loading;
        const known = new Set(this.items.map((item) => item.id));
        this.items.push(...body.items.filter((item) => !known.has(item.id)));
        this.cursor = body.next_cursor;
      } finally {
        this.loading = null;
      }
    }

    // An image facegate no longer serves (withdrawn between two polls) leaves at once; the next
    // poll reads the list again in full.
    drop(id) {
      this.items = this.items.filter((item) => item.id !== id);
      this.etag = null;
      this.cards.forEach((card) => card.update());
    }
  }

  async function answerError(response, path) {
    let error = null;
    try {
      error = (await response.json()).error;
    } catch (_) {
      // not facegate's JSON (a proxy's page)
    }
    if (error && error.code === "unknown_politician") {
      const known = error.detail && error.detail.known ? ` It knows: ${error.detail.known.join(", ")}.` : "";
      return new EmbedError(`${error.message}${known}`);
    }
    const why = error ? error.message : `HTTP ${response.status}`;
    return new EmbedError(`facegate could not answer /${path.split("?")[0]}: ${why}`);
  }

  function warn(error) {
    console.warn("facegate carousel:", error.message || error);
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  // Hidden from sight, read by screen readers; set through the CSSOM, which no CSP forbids.
  function visuallyHidden(node) {
    Object.assign(node.style, {
      position: "absolute",
      width: "1px",
      height: "1px",
      overflow: "hidden",
      clip: "rect(0 0 0 0)",
      whiteSpace: "nowrap",
    });
    return node;
  }

  function options(container) {
    const data = container.dataset;
    const seconds = (value, fallback, minimum) => {
      const number = Number(value);
      return value !== undefined && value !== "" && Number.isFinite(number) ? Math.max(minimum, number) : fallback;
    };
    return {
      politician: (data.facegateCarousel || "").trim(),
      defaultStyle: data.facegateStyle === "default",
      rotateSeconds: seconds(data.facegateRotateSeconds, ROTATE_SECONDS, 0),
      pollSeconds: seconds(data.facegatePollSeconds, POLL_SECONDS, MIN_POLL_SECONDS),
      emptyText: data.facegateEmptyText || TEXT.empty,
      linkText: data.facegateLinkText || TEXT.link,
      base: baseOf(data.facegateUrl) || SCRIPT_BASE,
    };
  }

  // One politician: the campaign's template (.carousel-item, img.carousel--image, .info with
  // .official, .country and p.description), rotating through the approved uploads.
  class Card {
    constructor(carousel, feed, politician, formUrl) {
      this.carousel = carousel;
      this.feed = feed;
      this.politician = politician;
      this.index = 0;
      this.shownId = null;
      const node = element("div", "carousel-item");
      node.dataset.politician = politician.slug;
      node.tabIndex = 0;
      node.setAttribute("role", "group");
      node.setAttribute("aria-roledescription", "carousel");
      node.setAttribute("aria-label", `${politician.name}: approved uploads; arrow keys browse them`);
      this.img = element("img", "carousel--image");
      this.img.loading = "lazy";
      this.img.decoding = "async";
      this.img.addEventListener("error", () => this.shownId !== null && feed.drop(this.shownId));
      this.img.addEventListener("click", () => this.step(1));
      const info = element("span", "info");
      info.append(
        element("span", "name", politician.name),
        " ",
        element("span", "official", politician.role),
        " ",
        element("span", "country", politician.country),
        " ",
        element("p", "description", politician.description)
      );
      this.empty = element("p", "facegate-empty", carousel.options.emptyText);
      if (formUrl) {
        const link = element("a", "facegate-form-link", carousel.options.linkText);
        link.href = formUrl;
        this.empty.append(" ", link);
      }
      this.position = visuallyHidden(element("span", "facegate-position"));
      node.append(info, this.position);
      this.bar = carousel.options.defaultStyle ? this.buttons() : null;
      if (this.bar) node.append(this.bar);
      node.addEventListener("keydown", (event) => this.key(event));
      this.node = node;
      feed.cards.add(this);
    }

    buttons() {
      const bar = element("span", "facegate-buttons");
      for (const [label, step, text] of [["Previous upload", -1, "‹"], ["Next upload", 1, "›"]]) {
        const button = element("button", "facegate-button", text);
        button.type = "button";
        button.setAttribute("aria-label", label);
        button.addEventListener("click", () => this.step(step));
        bar.append(button);
      }
      return bar;
    }

    key(event) {
      const moves = { ArrowRight: 1, ArrowLeft: -1 };
      if (event.key in moves) this.step(moves[event.key]);
      else if (event.key === "Home") this.show(0);
      else if (event.key === "End") this.show(this.feed.items.length - 1);
      else return;
      event.preventDefault();
    }

    async step(direction) {
      const items = this.feed.items;
      if (direction > 0 && this.index + 2 >= items.length) await this.feed.more().catch(warn);
      const count = this.feed.items.length;
      if (count > 1) this.show((this.index + direction + count) % count);
    }

    show(index) {
      this.index = Math.max(0, index);
      this.render();
    }

    // The feed changed: stay on the upload shown if it is still there.
    update() {
      const kept = this.feed.items.findIndex((item) => item.id === this.shownId);
      this.index = kept >= 0 ? kept : Math.min(this.index, Math.max(0, this.feed.items.length - 1));
      this.render();
    }

    render() {
      const items = this.feed.items;
      const item = items[this.index];
      if (this.bar) this.bar.hidden = items.length < 2;
      // The picture or the invitation, the other out of the page: hiding is not enough, as the
      // campaign's CSS may well say img { display: block }.
      const [shown, gone] = item ? [this.img, this.empty] : [this.empty, this.img];
      gone.remove();
      if (shown.parentNode !== this.node) this.node.prepend(shown);
      if (!item) {
        this.shownId = null;
        this.position.textContent = "";
        return;
      }
      const label = `Approved upload for ${this.politician.name}, ${this.index + 1} of ${items.length}`;
      this.img.alt = label;
      this.position.textContent = label;
      if (this.shownId === item.id) return;
      this.shownId = item.id;
      const width = Math.round(this.node.getBoundingClientRect().width);
      const facegate = this.feed.facegate;
      this.img.sizes = width > 0 ? `${width}px` : "480px";
      this.img.srcset = `${facegate.url(item.thumbnail_url)} 480w, ${facegate.url(item.image_url)} 1600w`;
      this.img.src = facegate.url(item.thumbnail_url);
    }

    // Screen readers hear a change only while nothing moves by itself (WAI-ARIA carousel pattern).
    announce(rotating) {
      this.position.setAttribute("aria-live", rotating ? "off" : "polite");
    }
  }

  class Carousel {
    constructor(container) {
      this.container = container;
      this.options = options(container);
      this.cards = [];
      this.paused = 0; // hover and focus inside, counted
      this.visible = true;
      this.reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
    }

    root() {
      if (!this.options.defaultStyle) return this.container;
      // The default style lives in a shadow root: it cannot reach the page, nor the page it.
      const host = element("div", "facegate-host");
      this.container.replaceChildren(host);
      const shadow = host.attachShadow({ mode: "open" });
      if ("adoptedStyleSheets" in shadow && typeof CSSStyleSheet.prototype.replaceSync === "function") {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(DEFAULT_STYLE);
        shadow.adoptedStyleSheets = [sheet]; // the CSSOM: no style-src needed on the page
      } else {
        shadow.append(element("style", "", DEFAULT_STYLE));
      }
      return shadow;
    }

    message(text, role) {
      const note = element("p", "facegate-message", text);
      note.setAttribute("role", role);
      return note;
    }

    async start() {
      if (!this.options.base) {
        throw new EmbedError("facegate's address is unknown: set data-facegate-url on the container.");
      }
      this.container.setAttribute("aria-busy", "true");
      const root = this.root();
      root.replaceChildren(this.message(TEXT.loading, "status"));
      this.facegate = clients.get(this.options.base) || new Facegate(this.options.base);
      clients.set(this.options.base, this.facegate);
      const [site, everyone] = await this.facegate.start();
      const politicians = this.options.politician
        ? await this.facegate.json(`politicians?${new URLSearchParams({ politician: this.options.politician })}`)
        : everyone;
      this.cards = politicians.map(
        (p) => new Card(this, this.facegate.feed(p.slug), p, site.form_url)
      );
      await Promise.all(this.cards.map((card) => card.feed.refresh()));
      const list = element("div", "carousel");
      list.append(...this.cards.map((card) => card.node));
      root.replaceChildren(list);
      this.cards.forEach((card) => card.render());
      this.container.removeAttribute("aria-busy");
      this.listen(list);
      this.facegate.add(this);
      this.rotate();
    }

    listen(list) {
      const hold = (delta) => () => {
        this.paused = Math.max(0, this.paused + delta);
        this.announce();
      };
      list.addEventListener("mouseenter", hold(1));
      list.addEventListener("mouseleave", hold(-1));
      list.addEventListener("focusin", hold(1));
      list.addEventListener("focusout", hold(-1));
      this.reducedMotion.addEventListener("change", () => this.announce());
      if ("IntersectionObserver" in window) {
        new IntersectionObserver((entries) => {
          this.visible = entries.some((entry) => entry.isIntersecting);
        }).observe(this.container);
      }
      this.announce();
    }

    rotating() {
      return this.options.rotateSeconds > 0 && !this.paused && !this.reducedMotion.matches;
    }

    announce() {
      this.cards.forEach((card) => card.announce(this.rotating()));
    }

    rotate() {
      if (this.options.rotateSeconds <= 0) return;
      setInterval(() => {
        if (this.rotating() && this.visible && !document.hidden) {
          this.cards.forEach((card) => card.step(1).catch(warn));
        }
      }, this.options.rotateSeconds * 1000);
    }

    fail(error) {
      this.container.removeAttribute("aria-busy");
      const text = error instanceof EmbedError ? error.message : "The carousel could not be shown.";
      const root = this.container.shadowRoot || this.container.querySelector(".facegate-host")?.shadowRoot;
      (root || this.container).replaceChildren(this.message(text, "alert"));
      warn(error);
    }
  }

  function mount(container) {
    if (mounted.has(container)) return mounted.get(container);
    const carousel = new Carousel(container);
    mounted.set(container, carousel);
    carousel.start().catch((error) => carousel.fail(error));
    return carousel;
  }

  function scan(root) {
    (root || document).querySelectorAll(SELECTOR).forEach(mount);
  }

  const DEFAULT_STYLE = `
:host { display: block; font: inherit; color: inherit; }
.carousel { display: grid; gap: 1.25rem; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr));
  align-items: start; }
.carousel-item { position: relative; display: flex; flex-direction: column; overflow: hidden;
  border-radius: .75rem; background: var(--facegate-card, #fff); color: var(--facegate-ink, #1b1b2f);
  box-shadow: 0 2px 10px rgb(0 0 0 / .1); outline-offset: 3px; }
.carousel-item:focus-visible { outline: 3px solid var(--facegate-accent, #e63946); }
.carousel--image { display: block; width: 100%; aspect-ratio: 4 / 5; object-fit: cover;
  object-position: 50% 20%; background: #e9e6df; cursor: pointer; }
[hidden] { display: none !important; }
.facegate-empty { display: grid; place-content: center; gap: .6rem; margin: 0; aspect-ratio: 4 / 5;
  padding: 1rem; text-align: center; background: #e9e6df; color: #6b6b7b; }
.facegate-form-link { justify-self: center; padding: .5rem 1.1rem; border-radius: 999px;
  background: var(--facegate-accent, #e63946); color: #fff; font-weight: 600; text-decoration: none; }
.info { display: flex; flex-direction: column; gap: .15rem; padding: .8rem 1rem 1rem; font-size: .9rem; }
.name { font-size: 1.1rem; font-weight: 700; }
.official, .country { color: #55556a; }
.description { margin: .4rem 0 0; }
.facegate-buttons { position: absolute; top: 0; left: 0; right: 0; display: flex;
  justify-content: space-between; padding: .4rem; pointer-events: none; }
.facegate-button { pointer-events: auto; width: 2rem; height: 2rem; border: 0; border-radius: 50%;
  background: rgb(0 0 0 / .45); color: #fff; font: 700 1.2rem/1 system-ui, sans-serif; cursor: pointer; }
.facegate-button:focus-visible { outline: 3px solid var(--facegate-accent, #e63946); }
.facegate-message { margin: 0; padding: 1rem; border-radius: .5rem; background: #f4f1ea; color: #1b1b2f; }
@media (prefers-reduced-motion: reduce) { * { transition: none !important; animation: none !important; } }
`;

  window.FacegateCarousel = Object.freeze({ version: "1", scan, mount });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", () => scan());
  } else {
    scan();
  }
})();
