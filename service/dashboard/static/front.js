// The Pareto front as an interactive scatter: any two metrics as axes, a third as colour,
// early-stopped trials faded, the multi-objective front ringed, the front of the two axes
// shown drawn as a staircase, the architecture in each hover label; a click opens the trial.
//
// The points come as columns from /dashboard/jobs/{id}/points, refetched only when the
// server's ETag says the study changed.

import { byId, el, escapeHtml, formatValue, label, mark, request, whenPlotly } from "./common.js";

const LOG_AXES = new Set(["params", "energy", "sops", "flops", "energy_ann"]);
// d3-format of each metric in hover labels.
const HOVER_FORMAT = {
  params: ",.0f",
  energy: ".3~s",
  sops: ".3~s",
  flops: ".3~s",
  energy_ann: ".3~s",
  epochs_trained: "d",
  duration_s: ".1f",
};
const hoverFormat = (name) => HOVER_FORMAT[name] || ".4f";
const COLOUR_FIRST = ["spike_rate", "energy"];
// Past this many points the front is drawn with WebGL where the browser has it: SVG then costs
// a second to draw and makes hovering sluggish.
const WEBGL_FROM = 2000;
const HAS_WEBGL = (() => {
  try {
    return Boolean(document.createElement("canvas").getContext("webgl"));
  } catch {
    return false;
  }
})();

export class FrontChart {
  constructor(jobId, onPick) {
    this.url = `/dashboard/jobs/${jobId}/points`;
    this.onPick = onPick;
    this.node = byId("front-chart");
    this.data = null;
    this.etag = null;
    this.selected = null;
    this.webgl = HAS_WEBGL; // until Plotly finds it cannot get a WebGL context after all
    this.selects = { x: byId("front-x"), y: byId("front-y"), colour: byId("front-colour") };
    for (const select of Object.values(this.selects)) {
      select.addEventListener("change", () => this.draw());
    }
  }

  // Whether new points arrived (and were drawn).
  async refresh() {
    const response = await request(this.url, { etag: this.etag });
    if (response.status === 304) return false;
    if (!response.ok) throw new Error(`points: ${response.status}`);
    this.etag = response.etag;
    const first = this.data === null;
    this.data = response.body;
    mark("points-loaded");
    if (first) this.fillSelects();
    await whenPlotly();
    this.draw();
    mark("front-drawn");
    return true;
  }

  fillSelects() {
    const names = Object.keys(this.data.metrics);
    const objectives = this.data.objectives;
    const x = objectives.includes("params") ? "params" : names.find((n) => n !== "accuracy");
    const y = objectives.includes("accuracy") ? "accuracy" : names[0];
    const colour =
      COLOUR_FIRST.find((n) => names.includes(n)) || names.find((n) => n !== x && n !== y);
    const fill = (select, chosen) => {
      select.replaceChildren(
        ...names.map((n) => el("option", { value: n, selected: n === chosen }, label(n))),
      );
    };
    fill(this.selects.x, x);
    fill(this.selects.y, y);
    fill(this.selects.colour, colour);
  }

  select(number) {
    this.selected = number;
    if (this.data) this.draw();
  }

  traces(x, y, colour) {
    const d = this.data;
    const xs = d.metrics[x];
    const ys = d.metrics[y];
    const cs = d.metrics[colour];
    const shown = d.number.map((_, i) => i).filter((i) => xs[i] !== null && ys[i] !== null);
    const hover =
      `<b>trial %{customdata}</b><br>${escapeHtml(label(x))}: %{x:${hoverFormat(x)}}<br>` +
      `${escapeHtml(label(y))}: %{y:${hoverFormat(y)}}<br>` +
      `${escapeHtml(label(colour))}: %{marker.color:${hoverFormat(colour)}}` +
      "<br>%{text}<extra></extra>";
    const type = shown.length > WEBGL_FROM && this.webgl ? "scattergl" : "scatter";
    this.renderer = type === "scattergl" ? "webgl" : "svg";
    const points = (indices, name, opacity) => ({
      type,
      mode: "markers",
      name,
      x: indices.map((i) => xs[i]),
      y: indices.map((i) => ys[i]),
      customdata: indices.map((i) => d.number[i]),
      text: indices.map((i) => escapeHtml(d.arch[i]).replaceAll("\n", "<br>")),
      hovertemplate: hover,
      marker: {
        color: indices.map((i) => cs[i]),
        coloraxis: "coloraxis",
        size: 8,
        opacity,
        line: { width: 0.5, color: "#ffffff" },
      },
    });
    const full = shown.filter((i) => !d.early[i]);
    const early = shown.filter((i) => d.early[i]);
    const ringed = shown.filter((i) => d.front[i]);
    const traces = [points(full, "full budget", 0.9), points(early, "stopped early", 0.25)];
    traces.push({
      type: "scatter",
      mode: "markers",
      name: "Pareto front (all objectives)",
      x: ringed.map((i) => xs[i]),
      y: ringed.map((i) => ys[i]),
      hoverinfo: "skip",
      marker: { symbol: "circle-open", size: 15, line: { width: 2 }, color: "#d1242f" },
    });
    const line = this.frontInView(shown.filter((i) => d.counts[i]), x, y);
    if (line.length) {
      traces.push({
        type: "scatter",
        mode: "lines",
        name: "front in this view",
        x: line.map((i) => xs[i]),
        y: line.map((i) => ys[i]),
        hoverinfo: "skip",
        line: { shape: "hv", color: "#d1242f", width: 1.5, dash: "dot" },
      });
    }
    const at = shown.indexOf(d.number.indexOf(this.selected));
    if (this.selected !== null && at >= 0) {
      const i = shown[at];
      traces.push({
        type: "scatter",
        mode: "markers",
        name: `trial ${d.number[i]}`,
        x: [xs[i]],
        y: [ys[i]],
        hoverinfo: "skip",
        marker: { symbol: "star", size: 18, color: "#ff8c00", line: { width: 1, color: "#000" } },
      });
    }
    return traces;
  }

  // The trials no other shown trial beats in both axes, in the order of the staircase: a sweep
  // along x (best first) keeping each trial that improves on y. No line along an axis that
  // has no better direction.
  frontInView(indices, x, y) {
    const better = this.data.better;
    if (!better[x] || !better[y] || x === y) return [];
    const xs = this.data.metrics[x];
    const ys = this.data.metrics[y];
    const cx = (i) => (better[x] === "max" ? -xs[i] : xs[i]);
    const cy = (i) => (better[y] === "max" ? -ys[i] : ys[i]);
    const sorted = [...indices].sort((a, b) => cx(a) - cx(b) || cy(a) - cy(b));
    const front = [];
    let best = Infinity;
    for (const i of sorted) {
      if (cy(i) < best) {
        front.push(i);
        best = cy(i);
      }
    }
    return front;
  }

  draw() {
    if (!this.data || !window.Plotly) return;
    const x = this.selects.x.value;
    const y = this.selects.y.value;
    const colour = this.selects.colour.value;
    const layout = {
      margin: { l: 60, r: 10, t: 40, b: 50 },
      xaxis: { title: { text: label(x) }, type: LOG_AXES.has(x) ? "log" : "linear" },
      yaxis: { title: { text: label(y) }, type: LOG_AXES.has(y) ? "log" : "linear" },
      coloraxis: { colorscale: "Viridis", colorbar: { title: { text: label(colour) } } },
      legend: { orientation: "h", x: 0, y: 1, yanchor: "bottom" },
      hovermode: "closest",
      uirevision: `${x}|${y}`, // keep the user's zoom while points arrive
    };
    const config = { displaylogo: false, responsive: true };
    byId("front-note").textContent = `${this.data.count} finished trials`;
    window.Plotly.react(this.node, this.traces(x, y, colour), layout, config);
    if (this.webgl && this.node.querySelector(".no-webgl")) {
      // A context was refused (no GPU, or a software one that gave up): SVG always works.
      this.webgl = false;
      window.Plotly.react(this.node, this.traces(x, y, colour), layout, config);
    }
    this.node.dataset.renderer = this.renderer;
    if (!this.node.dataset.bound) {
      this.node.dataset.bound = "1";
      this.node.on("plotly_click", (event) => {
        const point = event.points.find((p) => p.customdata !== undefined);
        if (point) this.onPick(point.customdata);
      });
    }
  }
}

// The hypervolume after each finished trial, against the trial count or the wall time.
export class HypervolumeChart {
  constructor(jobId) {
    this.url = `/api/jobs/${jobId}/hypervolume`;
    this.node = byId("hv-chart");
    this.axis = byId("hv-x");
    this.data = null;
    this.etag = null;
    this.axis.addEventListener("change", () => this.draw());
  }

  async refresh() {
    const response = await request(this.url, { etag: this.etag });
    if (response.status === 304) return false;
    if (!response.ok) throw new Error(`hypervolume: ${response.status}`);
    this.etag = response.etag;
    this.data = response.body;
    mark("hypervolume-loaded");
    await whenPlotly();
    this.draw();
    mark("hypervolume-drawn");
    return true;
  }

  draw() {
    if (!this.data || !window.Plotly) return;
    const all = this.data.data;
    // A step line needs only the points where the volume changed (a few hundred of 5,000).
    const points = all.filter(
      (p, i) => i === 0 || i === all.length - 1 || p.hypervolume !== all[i - 1].hypervolume,
    );
    const byTime = this.axis.value === "elapsed";
    const last = points.length ? points[points.length - 1].elapsed_s || 0 : 0;
    const [unit, scale] = last > 7200 ? ["h", 3600] : last > 120 ? ["min", 60] : ["s", 1];
    const x = byTime
      ? points.map((p) => (p.elapsed_s === null ? null : p.elapsed_s / scale))
      : points.map((p) => p.trial);
    const estimated = all.some((p) => !p.exact) ? " (estimated)" : "";
    byId("hv-value").textContent = all.length
      ? `${formatValue("hv", this.data.hypervolume)}${estimated}`
      : "";
    const trace = {
      type: "scatter",
      mode: "lines",
      x,
      y: points.map((p) => p.hypervolume),
      customdata: points.map((p) => [p.number, p.front_size]),
      line: { shape: "hv", color: "#2f6fde" },
      hovertemplate:
        "hypervolume %{y:.4f}<br>after trial %{customdata[0]}" +
        "<br>front of %{customdata[1]}<extra></extra>",
    };
    const layout = {
      margin: { l: 60, r: 10, t: 10, b: 50 },
      xaxis: {
        title: { text: byTime ? `wall time (${unit})` : "trials finished" },
        dtick: !byTime && all.length < 10 ? 1 : undefined, // no tick at trial 1.5
      },
      yaxis: { title: { text: "hypervolume" }, rangemode: "tozero" },
      showlegend: false,
      uirevision: this.axis.value,
    };
    window.Plotly.react(this.node, [trace], layout, { displaylogo: false, responsive: true });
  }
}
