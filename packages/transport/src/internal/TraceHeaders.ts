/**
 * W3C trace context (`traceparent`, https://www.w3.org/TR/trace-context/) for
 * requests the MCP SDK sends on our behalf: the SDK calls `fetch` outside any
 * Effect fiber, so the span's headers travel in an `AsyncLocalStorage` from
 * the call that started the request to the fetch that sends it.
 */
import { AsyncLocalStorage } from "node:async_hooks"

const storage = new AsyncLocalStorage<Readonly<Record<string, string>>>()

/** Runs a promise-returning SDK call so that the fetches it makes send `headers`. */
export const run = <A>(
  headers: Readonly<Record<string, string>> | undefined,
  call: () => Promise<A>
): Promise<A> => (headers === undefined ? call() : storage.run(headers, call))

/** The trace headers of the SDK call this fetch belongs to, if any. */
export const current = (): Readonly<Record<string, string>> | undefined => storage.getStore()
