/**
 * W3C trace context (`traceparent`, https://www.w3.org/TR/trace-context/) for a
 * request the gateway sends to another service on behalf of the current span.
 */
import { Context, Effect, Tracer } from "effect"
import { HttpTraceContext } from "effect/http"

/**
 * The current span's trace headers, or `undefined` outside a span. Read from the
 * fiber's context rather than with `Effect.currentSpan`, which fails when there is
 * no span with an error that captures a stack trace: without tracing that was ~4 %
 * of the gateway's CPU per pass-through request (bench/RESULTS.md, issue 18).
 */
export const currentHeaders: Effect.Effect<Readonly<Record<string, string>> | undefined> = Effect.map(
  Effect.context<never>(),
  (context) => {
    const span = Context.getOrUndefined(context, Tracer.ParentSpan)
    return span?._tag === "Span" ? HttpTraceContext.toHeaders(span) : undefined
  }
)
