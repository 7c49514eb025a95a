/**
 * The Node platform layers the server package uses, by path (bench/ sits at the
 * workspace root, where `@effect/platform-node` does not resolve).
 */
export * as NodeHttpClient from "../../packages/server/node_modules/@effect/platform-node/dist/NodeHttpClient.js"
export * as NodeHttpServer from "../../packages/server/node_modules/@effect/platform-node/dist/NodeHttpServer.js"
