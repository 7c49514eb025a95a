/**
 * The admin API as the tests read it: answers decoded with the http-api
 * groups' schemas (src/api/), never cast; and effect's typed clients
 * (`HttpApiClient`) built from the same groups, for a gateway of
 * ./AdminGateway.ts.
 */
import { Effect, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { HttpApiClient } from "effect/http-api"
import { AdminHttpApi } from "../../src/api/AdminHttpApi.ts"
import { AdminEvent, ServerStatus } from "../../src/api/AdminSchemas.ts"
import { ErrorBody } from "../../src/api/ApiErrors.ts"
import { McpJsonHttpApi } from "../../src/api/McpJsonHttpApi.ts"
import type * as AdminEvents from "./AdminEvents.ts"
import type * as AdminGateway from "./AdminGateway.ts"

/** The JSON of a response, decoded with `schema`; a mismatch fails the test with the schema's message. */
export const decode =
  <S extends Schema.Decoder<unknown>>(schema: S) =>
  (response: Pick<AdminGateway.Response, "json" | "status" | "text">): Effect.Effect<S["Type"]> =>
    Schema.decodeUnknownEffect(schema)(response.json).pipe(
      Effect.mapError((error) => new Error(`${response.status} ${response.text}: ${error.message}`)),
      Effect.orDie
    )

/** The error object of an error answer, `{error: {message, type, code, issues?}}`. */
export const errorOf = (response: Pick<AdminGateway.Response, "json" | "status" | "text">) =>
  Effect.map(decode(ErrorBody)(response), (body) => body.error)

/** An event of `GET events` as the `AdminEvent` schema decodes it (its `data` was one line of JSON). */
export const adminEvent = (event: AdminEvents.SseEvent): Effect.Effect<AdminEvent> =>
  Schema.decodeUnknownEffect(AdminEvent)({ event: event.event, data: JSON.stringify(event.data) }).pipe(
    Effect.orDie
  )

const isStatus = Schema.is(ServerStatus)

/** Whether an event says that `server` is now in `state` (for `AdminEvents.EventStream.next`). */
export const statusEvent = (server: string, state: ServerStatus["state"]) => (event: AdminEvents.SseEvent) =>
  event.event === "status" && isStatus(event.data) && event.data.name === server && event.data.state === state

/** A typed client of the gateway's admin API, sending the admin token (or `token`). */
export const make = (
  gateway: Pick<AdminGateway.AdminGateway, "url" | "adminToken">,
  token = gateway.adminToken
) =>
  HttpApiClient.make(AdminHttpApi, {
    baseUrl: gateway.url,
    transformClient: HttpClient.mapRequest(HttpClientRequest.bearerToken(token))
  }).pipe(Effect.provide(FetchHttpClient.layer))

/** A typed client of the gateway's `/v1/mcp/*`, sending `apiKey` when given. */
export const mcpJson = (gateway: Pick<AdminGateway.AdminGateway, "url">, apiKey?: string) =>
  HttpApiClient.make(McpJsonHttpApi, {
    baseUrl: gateway.url,
    transformClient: (client) =>
      apiKey === undefined ? client : HttpClient.mapRequest(client, HttpClientRequest.bearerToken(apiKey))
  }).pipe(Effect.provide(FetchHttpClient.layer))
