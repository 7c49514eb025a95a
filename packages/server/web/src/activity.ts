/**
 * The admin page's activity panel (docs/observability.md#activity): per server
 * and tool, the last hour's calls, errors and p50/p95 latency, each as two
 * small uPlot charts by minute. Reads `GET /admin/api/activity` (the typed
 * client, ./lib/adminApi.ts) every 30 s while the dashboard is shown.
 */
import uPlot from "uplot"
import * as AdminApi from "./lib/adminApi.ts"
import { h, setText } from "./lib/dom.ts"

type ActivityReport = AdminApi.Answer<"recent">
type ToolActivity = ActivityReport["tools"][number]

const refreshMs = 30_000
const chartSize = { width: 260, height: 90 }

const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim()

const ms = (seconds: number | null) =>
  seconds === null ? "–" : seconds < 1 ? `${Math.round(seconds * 1000)} ms` : `${seconds.toFixed(2)} s`

/** x: the minutes as seconds since the epoch, as uPlot wants them. */
const minutes = (tool: ToolActivity) => tool.points.map((point) => Math.floor(point.at / 1000))

const chart = (title: string, data: uPlot.AlignedData, series: ReadonlyArray<uPlot.Series>) => {
  const box = h("figure", { class: "activity-chart" }, h("figcaption", {}, title))
  const now = Math.floor(Date.now() / 1000)
  new uPlot(
    {
      ...chartSize,
      legend: { show: false },
      cursor: { show: false },
      scales: {
        x: { time: true, range: () => [now - 3600, now + 60] },
        y: { range: (_self, _min, max) => [0, Math.max(1, Math.ceil((max ?? 0) * 1.15))] }
      },
      axes: [
        { stroke: css("--muted"), grid: { show: false }, size: 24, font: "10px system-ui" },
        {
          stroke: css("--muted"),
          grid: { stroke: css("--border"), width: 1 },
          size: 36,
          font: "10px system-ui"
        }
      ],
      series: [{}, ...series]
    },
    data,
    box
  )
  return box
}

const row = (tool: ToolActivity) => {
  const x = minutes(tool)
  const errorRate = tool.calls === 0 ? 0 : tool.errors / tool.calls
  return h(
    "li",
    { class: "activity-row", "data-server": tool.server, "data-tool": tool.tool },
    h(
      "div",
      { class: "activity-head" },
      h("strong", {}, `${tool.server} · ${tool.tool}`),
      h(
        "span",
        { class: "muted activity-stats" },
        `${tool.calls} calls · `,
        h("span", { class: errorRate > 0 ? "activity-errors" : "" }, `${tool.errors} errors`),
        ` · p50 ${ms(tool.p50)} · p95 ${ms(tool.p95)}`
      )
    ),
    h(
      "div",
      { class: "activity-charts" },
      chart(
        "Calls and errors per minute",
        [x, tool.points.map((point) => point.calls), tool.points.map((point) => point.errors)],
        [
          {
            label: "calls",
            stroke: css("--accent"),
            fill: css("--accent-soft"),
            points: { show: true, size: 6 }
          },
          { label: "errors", stroke: css("--danger"), points: { show: true, size: 6 } }
        ]
      ),
      chart(
        "Latency p50 / p95 (ms)",
        [
          x,
          tool.points.map((point) => (point.p50 === null ? null : point.p50 * 1000)),
          tool.points.map((point) => (point.p95 === null ? null : point.p95 * 1000))
        ],
        [
          { label: "p50", stroke: css("--ok"), points: { show: true, size: 6 } },
          { label: "p95", stroke: css("--warn"), points: { show: true, size: 6 } }
        ]
      )
    )
  )
}

const render = (list: HTMLElement, summary: HTMLElement, report: ActivityReport) => {
  list.replaceChildren(...report.tools.map(row))
  const calls = report.tools.reduce((sum, tool) => sum + tool.calls, 0)
  setText(
    summary,
    report.tools.length === 0
      ? `No tool calls in the last ${report.windowMinutes} minutes.`
      : `${calls} tool calls in the last ${report.windowMinutes} minutes.`
  )
}

let timer: number | undefined

/** Loads the panel now and every 30 s; `stopActivity` ends it (sign-out). */
export const startActivity = (
  list: HTMLElement,
  summary: HTMLElement,
  onFailure: (error: unknown) => void
) => {
  const load = () => AdminApi.activity.recent().then((report) => render(list, summary, report), onFailure)
  window.clearInterval(timer)
  timer = window.setInterval(load, refreshMs)
  return load()
}

export const stopActivity = () => window.clearInterval(timer)
