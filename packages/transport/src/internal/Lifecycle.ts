/**
 * Changing which servers run: reconnect one, disconnect one, or apply a new
 * config (servers whose connection settings changed restart, removed ones close,
 * added ones start, a new tool filter applies without reconnecting). One at a time,
 * under the manager's lifecycle semaphore.
 */
import type { McpgateConfig } from "@mcpgate/core/Config"
import { Effect, FiberMap, Semaphore } from "effect"
import * as McpConnection from "../McpConnection.ts"
import {
  changed,
  connectionConfig,
  type Entry,
  filteredTools,
  isReserved,
  lookup,
  newEntry,
  publishStatus
} from "./ManagerState.ts"
import { structuralEqual } from "./StructuralEqual.ts"
import { type Supervision, start, stop } from "./Supervisor.ts"

/** Closes the server's connection (if any) and connects again now, with a fresh backoff. */
export const reconnect = (supervision: Supervision, name: string) =>
  Effect.gen(function* () {
    const entry = yield* lookup(supervision.state, name)
    yield* Semaphore.withPermit(
      supervision.state.lifecycle,
      Effect.gen(function* () {
        yield* stop(supervision.state, entry)
        yield* start(supervision, entry)
      })
    )
  })

/** Closes the server's connection and stops retrying until `reconnect` or a reload. */
export const disconnect = (supervision: Supervision, name: string) =>
  Effect.gen(function* () {
    const { state } = supervision
    const entry = yield* lookup(state, name)
    yield* Semaphore.withPermit(
      state.lifecycle,
      Effect.gen(function* () {
        yield* stop(state, entry)
        entry.state = entry.config.enabled ? "disconnected" : "disabled"
        entry.nextRetryAt = undefined
        entry.settled = true
        yield* publishStatus(state, entry)
      })
    )
  })

/** Applies `next` (see the module comment); the caller holds the lifecycle permit. */
const applyConfig = (supervision: Supervision, next: McpgateConfig) =>
  Effect.gen(function* () {
    const { state } = supervision
    const entries = state.entries
    state.defaultTimeout = next.defaultTimeout
    const servers = Object.values(next.mcpServers)
    const wanted = new Set(servers.map((server) => server.name))
    const removed = Array.from(entries.values()).filter((entry) => !wanted.has(entry.config.name))
    const restart: Array<Entry> = []
    const ordered = new Map<string, Entry>()
    for (const server of servers) {
      const timeoutMs = McpConnection.timeoutMsOf(server, state.defaultTimeout)
      const existing = entries.get(server.name)
      if (existing === undefined) {
        const entry = newEntry(server, state.defaultTimeout)
        ordered.set(server.name, entry)
        restart.push(entry)
      } else if (
        !structuralEqual(
          connectionConfig(existing.config, existing.timeoutMs),
          connectionConfig(server, timeoutMs)
        )
      ) {
        restart.push(existing)
        ordered.set(server.name, existing)
      } else if (
        server.enabled &&
        !isReserved(state, existing) &&
        !FiberMap.hasUnsafe(state.fibers, server.name)
      ) {
        // Unchanged but not running (disconnected by hand, or waiting for a login):
        // after a reload every enabled server is connected or trying to be.
        restart.push(existing)
        ordered.set(server.name, existing)
      } else {
        // Same connection; a new tool filter applies at once without reconnecting.
        const filterChanged = !structuralEqual(existing.config.tools, server.tools)
        existing.config = server
        ordered.set(server.name, existing)
        if (filterChanged) {
          yield* changed(state, {
            _tag: "ToolsChanged",
            server: server.name,
            toolCount: existing.connection === undefined ? 0 : filteredTools(existing).length
          })
          yield* publishStatus(state, existing)
        }
      }
    }
    // Close what goes away or changes before starting anything: a server holding an
    // exclusive resource (a database file, a port) must not run twice.
    yield* Effect.forEach(
      [...removed, ...restart.filter((entry) => entries.has(entry.config.name))],
      (entry) => stop(state, entry),
      { concurrency: "unbounded", discard: true }
    )
    entries.clear()
    for (const [name, entry] of ordered) entries.set(name, entry)
    for (const entry of removed) yield* changed(state, { _tag: "ServerRemoved", server: entry.config.name })
    for (const entry of restart) {
      const server = next.mcpServers[entry.config.name]
      if (server === undefined) continue
      entry.config = server
      entry.timeoutMs = McpConnection.timeoutMsOf(server, state.defaultTimeout)
      entry.rawTools = []
      entry.lastError = undefined
      entry.stderr = undefined
      yield* start(supervision, entry)
    }
  })

/** Applies a new config, after any lifecycle operation in progress. */
export const reload = (supervision: Supervision, next: McpgateConfig) =>
  Semaphore.withPermit(supervision.state.lifecycle, applyConfig(supervision, next))
