// One trial opened from the front or the table: its facts, learning curves, architecture, and
// the downloads of its module and weights (GET /api/jobs/{id}/trials/{n}, with its curve).

import { drawArch } from "./arch.js";
import {
  byId,
  formatValue,
  guardDownload,
  label,
  messages,
  request,
  whenPlotly,
} from "./common.js";

export class TrialDetail {
  constructor(jobId, objectives) {
    this.jobId = jobId;
    this.objectives = objectives;
    this.number = null;
    this.trial = null;
    this.section = byId("trial-detail");
    guardDownload(byId("export-module"));
    guardDownload(byId("export-weights"));
  }

  // Whether the open trial may still change (so a live page should fetch it again).
  get live() {
    return this.trial !== null && ["running", "waiting"].includes(this.trial.state);
  }

  async open(number) {
    this.number = number;
    await this.refresh();
    this.section.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  async refresh() {
    if (this.number === null) return;
    const number = this.number;
    const response = await request(`/api/jobs/${this.jobId}/trials/${number}`);
    if (number !== this.number) return; // another trial was opened meanwhile
    this.section.hidden = false;
    if (!response.ok) {
      byId("detail-title").textContent = `Trial ${number}`;
      byId("detail-error").textContent = messages(response).join("\n");
      return;
    }
    this.trial = response.body;
    await whenPlotly();
    this.draw(this.trial);
  }

  draw(trial) {
    byId("detail-title").textContent = `Trial ${trial.number} · ${trial.state}`;
    const facts = this.objectives.map((o) => `${label(o)} ${formatValue(o, trial.values[o])}`);
    facts.push(`test accuracy ${formatValue("test_accuracy", trial.test_accuracy)}`);
    const budget = trial.budget_epochs ?? "?";
    const early = trial.state === "complete" && trial.early_stopped ? " (stopped early)" : "";
    facts.push(`${trial.epochs_trained}/${budget} epochs${early}`);
    facts.push(formatValue("duration_s", trial.duration_s));
    byId("detail-facts").textContent = facts.join(" · ");
    byId("detail-error").textContent = trial.error || "";
    const base = `/api/jobs/${this.jobId}/trials/${trial.number}`;
    const complete = trial.state === "complete" && trial.arch;
    const links = [
      ["export-module", "export", "py"],
      ["export-weights", "weights", "pt"],
    ];
    for (const [id, suffix, ext] of links) {
      const link = byId(id);
      link.hidden = !complete;
      link.href = `${base}/${suffix}`;
      link.setAttribute("download", `job${this.jobId}_trial${trial.number}.${ext}`);
    }
    this.drawCurves(trial.curve || []);
    drawArch(byId("arch"), trial.arch);
  }

  drawCurves(curve) {
    const node = byId("curve-chart");
    if (!window.Plotly) return;
    const epochs = curve.map((p) => p.epoch);
    const series = (key, name, axis, colour) => ({
      type: "scatter",
      mode: "lines+markers",
      name,
      x: epochs,
      y: curve.map((p) => (key in p ? p[key] : null)),
      yaxis: axis,
      line: { color: colour },
    });
    const traces = [
      series("accuracy", "validation accuracy", "y", "#2f6fde"),
      series("spike_rate", "spike rate", "y", "#bf3989"),
      series("train_loss", "training loss", "y2", "#57606a"),
    ];
    // Curves recorded before the validation loss was measured have none: no empty legend entry.
    if (curve.some((p) => p.val_loss != null)) {
      traces.push(series("val_loss", "validation loss", "y2", "#9a6700"));
    }
    const layout = {
      margin: { l: 50, r: 50, t: 10, b: 40 },
      xaxis: { title: { text: "epoch" }, dtick: epochs.length < 15 ? 1 : undefined },
      yaxis: { title: { text: "accuracy, spike rate" }, rangemode: "tozero" },
      yaxis2: { title: { text: "loss" }, overlaying: "y", side: "right", rangemode: "tozero" },
      legend: { orientation: "h", y: 1.15 },
      annotations: curve.length
        ? []
        : [
            {
              text: "no epoch recorded yet",
              showarrow: false,
              xref: "paper",
              yref: "paper",
              x: 0.5,
              y: 0.5,
            },
          ],
    };
    window.Plotly.react(node, traces, layout, { displaylogo: false, responsive: true });
  }
}
