// The trials table: sorted, filtered and paginated by the server (GET /api/jobs/{id}/trials),
// so a page costs the same for 50 trials as for 10,000. A row click opens the trial.

import { byId, el, formatValue, label, mark, messages, request } from "./common.js";

const PAGE = 50;
// Metrics where more is better start sorted from the top.
const DESCENDING_FIRST = new Set(["accuracy", "test_accuracy"]);

export class TrialsTable {
  constructor(jobId, objectives, onPick) {
    this.jobId = jobId;
    this.onPick = onPick;
    this.sort = "number";
    this.order = "asc";
    this.offset = 0;
    this.count = 0;
    this.selected = null;
    this.columns = [
      { key: "number", title: "#", sort: true },
      { key: "state", title: "state" },
      ...objectives.map((o) => ({ key: o, title: label(o), sort: true, num: true })),
      { key: "test_accuracy", title: label("test_accuracy"), sort: true, num: true },
      { key: "epochs_trained", title: "epochs", sort: true, num: true },
      { key: "early_stopped", title: "stopped early" },
      { key: "duration_s", title: "time", sort: true, num: true },
    ];
    this.state = byId("trial-state");
    this.state.addEventListener("change", () => this.go(0));
    byId("page-prev").addEventListener("click", () => this.go(this.offset - PAGE));
    byId("page-next").addEventListener("click", () => this.go(this.offset + PAGE));
    this.drawHead();
  }

  drawHead() {
    const cells = this.columns.map((c) => {
      const sorted = this.sort === c.key;
      const sortState = sorted ? (this.order === "asc" ? "ascending" : "descending") : null;
      const content = c.sort
        ? el("button", { type: "button", onclick: () => this.sortBy(c.key) }, c.title)
        : c.title;
      const props = { class: c.num ? "num" : "", "aria-sort": sortState, "data-key": c.key };
      return el("th", props, content);
    });
    byId("trial-head").replaceChildren(...cells);
  }

  sortBy(key) {
    if (this.sort === key) this.order = this.order === "asc" ? "desc" : "asc";
    else {
      this.sort = key;
      this.order = DESCENDING_FIRST.has(key) ? "desc" : "asc";
    }
    this.drawHead();
    this.go(0);
  }

  go(offset) {
    this.offset = Math.max(0, offset);
    return this.refresh();
  }

  async refresh() {
    const query = new URLSearchParams({
      limit: PAGE,
      offset: this.offset,
      sort: this.sort,
      order: this.order,
    });
    if (this.state.value) query.set("state", this.state.value);
    // Set before the first await, so the rows on screen are known to be stale until redrawn.
    byId("trial-rows").setAttribute("aria-busy", "true");
    const response = await request(`/api/jobs/${this.jobId}/trials?${query}`);
    if (!response.ok) {
      byId("trial-rows").replaceChildren(
        el("tr", {}, el("td", { colspan: this.columns.length }, messages(response).join("; "))),
      );
      byId("trial-rows").removeAttribute("aria-busy");
      return;
    }
    this.count = response.body.count;
    if (this.offset >= this.count && this.count > 0) {
      // The filter shrank the list under the current page.
      return this.go(Math.floor((this.count - 1) / PAGE) * PAGE);
    }
    this.drawRows(response.body.data);
    const last = Math.min(this.offset + PAGE, this.count);
    byId("page-text").textContent = this.count
      ? `${this.offset + 1}–${last} of ${this.count}`
      : "no trials";
    byId("page-prev").disabled = this.offset === 0;
    byId("page-next").disabled = last >= this.count;
    byId("trial-rows").removeAttribute("aria-busy");
    mark("table-drawn");
  }

  cell(trial, column) {
    if (column.key === "state") {
      return el("td", { class: `state-${trial.state}` }, trial.state);
    }
    if (column.key === "early_stopped") {
      // A failed trial also trained less than its budget, but no scheduler stopped it.
      const early = trial.state === "complete" && trial.early_stopped;
      return el("td", { class: early ? "early" : "" }, early ? "yes" : "");
    }
    if (column.key === "number") return el("td", { class: "num" }, trial.number);
    const value = column.key in trial.values ? trial.values[column.key] : trial[column.key];
    return el("td", { class: "num" }, formatValue(column.key, value));
  }

  drawRows(trials) {
    const rows = trials.map((trial) =>
      el(
        "tr",
        {
          class: trial.number === this.selected ? "selected" : "",
          dataset: { number: trial.number },
          onclick: () => this.onPick(trial.number),
        },
        this.columns.map((c) => this.cell(trial, c)),
      ),
    );
    if (!rows.length) {
      rows.push(el("tr", {}, el("td", { colspan: this.columns.length }, "No trials here yet.")));
    }
    byId("trial-rows").replaceChildren(...rows);
  }

  select(number) {
    this.selected = number;
    for (const row of byId("trial-rows").children) {
      row.classList.toggle("selected", Number(row.dataset.number) === number);
    }
  }
}
