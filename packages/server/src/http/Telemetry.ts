/**
 * OTLP export of traces and metrics (docs/observability.md#traces), configured
 * by the standard OpenTelemetry variables and off when no endpoint is set:
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (or `…_TRACES_ENDPOINT` / `…_METRICS_ENDPOINT`),
 * `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`,
 * the default, or `http/json`), `OTEL_TRACES_EXPORTER` / `OTEL_METRICS_EXPORTER`
 * (`otlp` by default, `none` turns a signal off), `OTEL_SDK_DISABLED`,
 * `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_BSP_SCHEDULE_DELAY`,
 * `OTEL_METRIC_EXPORT_INTERVAL`. Effect's own OTLP exporters send what the
 * `Effect.fn` / `withSpan` spans and the metrics of `@mcpgate/core/Metrics` record.
 */
import { Config, Duration, Effect, Layer, Option } from "effect"

type Signal = "TRACES" | "METRICS"

const optionalString = (name: string) => Config.option(Config.String(name))

/** The signal's URL: its own endpoint, else `/v1/<signal>` below the base one (OTLP/HTTP). */
const endpointOf = (signal: Signal) =>
  Effect.gen(function* () {
    const own = yield* optionalString(`OTEL_EXPORTER_OTLP_${signal}_ENDPOINT`)
    if (Option.isSome(own) && own.value.trim() !== "") return own.value.trim()
    const base = yield* optionalString("OTEL_EXPORTER_OTLP_ENDPOINT")
    if (Option.isNone(base) || base.value.trim() === "") return undefined
    return `${base.value.trim().replace(/\/+$/, "")}/v1/${signal.toLowerCase()}`
  })

/** `OTEL_TRACES_EXPORTER=none` turns a signal off; unset means `otlp` (the specification's default). */
const exporterOn = (signal: Signal) =>
  Effect.map(optionalString(`OTEL_${signal}_EXPORTER`), (value) =>
    Option.match(value, {
      onNone: () => true,
      onSome: (list) =>
        list
          .split(",")
          .map((entry) => entry.trim().toLowerCase())
          .includes("otlp")
    })
  )

/** `key=value,key2=value2`, values percent-encoded (the OTLP exporter specification). */
const headersOf = (signal: Signal) =>
  Effect.gen(function* () {
    const own = yield* optionalString(`OTEL_EXPORTER_OTLP_${signal}_HEADERS`)
    const raw = Option.isSome(own) ? own : yield* optionalString("OTEL_EXPORTER_OTLP_HEADERS")
    if (Option.isNone(raw)) return undefined
    const headers: Record<string, string> = {}
    for (const pair of raw.value.split(",")) {
      const at = pair.indexOf("=")
      if (at <= 0) continue
      headers[pair.slice(0, at).trim()] = decodeURIComponent(pair.slice(at + 1).trim())
    }
    return headers
  })

/** `OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES` win; else `mcpgate`. */
const resourceOf = Effect.gen(function* () {
  const name = yield* optionalString("OTEL_SERVICE_NAME")
  const attributes = yield* optionalString("OTEL_RESOURCE_ATTRIBUTES")
  const named =
    Option.isSome(name) || Option.exists(attributes, (value) => /(^|,)\s*service\.name\s*=/.test(value))
  return named ? {} : { serviceName: "mcpgate" }
})

const millis = (name: string) =>
  Effect.map(
    Config.option(Config.Int(name)),
    Option.map((value) => Duration.millis(value))
  )

const make = Effect.gen(function* () {
  const disabled = yield* Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false))
  const tracesUrl = (yield* exporterOn("TRACES")) ? yield* endpointOf("TRACES") : undefined
  const metricsUrl = (yield* exporterOn("METRICS")) ? yield* endpointOf("METRICS") : undefined
  if (disabled || (tracesUrl === undefined && metricsUrl === undefined)) return Layer.empty
  // The exporters' code is loaded only when they run (a gateway without them starts faster: bench/RESULTS.md, issue 18).
  const [OtlpMetrics, OtlpSerialization, OtlpTracer] = yield* Effect.promise(() =>
    Promise.all([
      import("effect/observability/OtlpMetrics"),
      import("effect/observability/OtlpSerialization"),
      import("effect/observability/OtlpTracer")
    ])
  )
  const resource = yield* resourceOf
  const protocol = yield* optionalString("OTEL_EXPORTER_OTLP_PROTOCOL")
  const serialization = Option.exists(protocol, (value) => value.trim() === "http/json")
    ? OtlpSerialization.layerJson
    : OtlpSerialization.layerProtobuf
  const traces =
    tracesUrl === undefined
      ? Layer.empty
      : OtlpTracer.layer({
          url: tracesUrl,
          resource,
          headers: yield* headersOf("TRACES"),
          exportInterval: Option.getOrUndefined(yield* millis("OTEL_BSP_SCHEDULE_DELAY"))
        })
  const metrics =
    metricsUrl === undefined
      ? Layer.empty
      : OtlpMetrics.layer({
          url: metricsUrl,
          resource,
          headers: yield* headersOf("METRICS"),
          exportInterval: Option.getOrUndefined(yield* millis("OTEL_METRIC_EXPORT_INTERVAL"))
        })
  return Layer.mergeAll(traces, metrics).pipe(Layer.provide(serialization))
})

/**
 * The exporters the environment asks for (none when no endpoint is set). Provide
 * it under the gateway's layer; it needs an `HttpClient` to send with.
 */
export const layerFromEnv = Layer.unwrap(make)
