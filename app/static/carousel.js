// The carousel: one card per politician, rotating through that politician's approved uploads.
// Data comes from facegate only (/politicians, /approved, /site); no credentials, no build step.
"use strict";

const PAGE_SIZE = 12;
const ROTATE_MS = 4000;
const POLL_MS = 15000;

async function getJSON(url, etag) {
  const headers = etag ? { "If-None-Match": etag } : {};
  const response = await fetch(url, { headers, cache: "no-store" });
  if (response.status === 304) return { notModified: true };
  if (!response.ok) throw new Error(`${url}: ${response.status}`);
  return { body: await response.json(), etag: response.headers.get("ETag") };
}

class Card {
  constructor(politician, formUrl) {
    this.slug = politician.slug;
    this.items = [];
    this.cursor = null;
    this.done = false;
    this.index = 0;
    this.etag = null;
    const node = document.getElementById("card-template").content.firstElementChild.cloneNode(true);
    node.dataset.politician = politician.slug;
    node.querySelector(".name").textContent = politician.name;
    node.querySelector(".role").textContent = politician.role;
    node.querySelector(".country").textContent = politician.country;
    node.querySelector(".description").textContent = politician.description;
    const link = node.querySelector(".empty-link");
    if (formUrl) link.href = formUrl; else link.hidden = true;
    this.node = node;
    this.img = node.querySelector("img");
    this.img.alt = `Approved upload for ${politician.name}`;
  }

  url(cursor) {
    const query = new URLSearchParams({ politician: this.slug, limit: String(PAGE_SIZE) });
    if (cursor) query.set("cursor", String(cursor));
    return `/approved?${query}`;
  }

  // First page, again on every poll: an unchanged list answers 304 and costs nothing.
  async refresh() {
    const result = await getJSON(this.url(null), this.etag);
    if (result.notModified) return;
    this.etag = result.etag;
    const current = this.items[this.index];
    this.items = result.body.items;
    this.cursor = result.body.next_cursor;
    this.done = this.cursor === null;
    const kept = current ? this.items.findIndex((item) => item.id === current.id) : -1;
    this.index = kept >= 0 ? kept : 0;
    this.render();
  }

  // Hundreds of uploads: older pages are fetched only when the rotation reaches them.
  async loadMore() {
    if (this.done || this.loading) return;
    this.loading = true;
    try {
      const result = await getJSON(this.url(this.cursor));
      this.items.push(...result.body.items);
      this.cursor = result.body.next_cursor;
      this.done = this.cursor === null;
    } finally {
      this.loading = false;
    }
  }

  async next() {
    if (this.items.length < 2 && this.done) return;
    if (this.index + 2 >= this.items.length) await this.loadMore();
    this.index = (this.index + 1) % this.items.length;
    this.render();
  }

  render() {
    const empty = this.items.length === 0;
    this.node.querySelector(".empty").hidden = !empty;
    this.img.hidden = empty;
    if (!empty) {
      const item = this.items[this.index];
      if (this.img.dataset.id !== String(item.id)) {
        this.img.dataset.id = String(item.id);
        this.img.src = item.thumbnail_url;
      }
    }
    const dots = this.node.querySelector(".dots");
    dots.replaceChildren(...this.items.slice(0, 12).map((_, i) => {
      const dot = document.createElement("span");
      if (i === this.index % 12) dot.className = "on";
      return dot;
    }));
  }
}

async function main() {
  const status = document.getElementById("status");
  try {
    const [{ body: politicians }, { body: site }] = await Promise.all([getJSON("/politicians"), getJSON("/site")]);
    if (site.form_url) {
      const link = document.getElementById("upload-link");
      link.href = site.form_url;
      link.hidden = false;
    }
    const cards = politicians.map((p) => new Card(p, site.form_url));
    document.getElementById("cards").replaceChildren(...cards.map((card) => card.node));
    await Promise.all(cards.map((card) => card.refresh()));
    status.textContent = "";
    setInterval(() => cards.forEach((card) => card.next().catch(() => {})), ROTATE_MS);
    setInterval(() => cards.forEach((card) => card.refresh().catch(() => {})), POLL_MS);
  } catch (error) {
    status.textContent = "The carousel cannot be loaded right now. Please try again in a moment.";
    console.error(error);
  }
}

main();
