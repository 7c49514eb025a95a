/**
 * The host app's logger: logfmt lines prefixed `host |` on stdout. Provided
 * once at the top of the app, it is the logger of every mcpgate layer too
 * (connections, OAuth, HTTP requests): they log through Effect, never to the
 * console themselves.
 */
import { Logger } from "effect"

export const hostLogger = Logger.withConsoleLog(Logger.map(Logger.formatLogFmt, (line) => `host | ${line}`))

export const layer = Logger.layer([hostLogger])
