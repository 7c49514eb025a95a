/**
 * Credentials changed by someone else (docs/store.md#cache): a shared store
 * announces each change by its key (`keyOf`), so a replica whose server waits
 * for a login reconnects as soon as another replica has completed it. Local
 * stores do not provide it; whoever listens treats it as optional.
 */
import { Context, type Stream } from "effect"

export interface CredentialChangesShape {
  /** The `keyOf` of every credential written or deleted, by any replica, from subscription on. */
  readonly changes: Stream.Stream<string>
}

export class CredentialChanges extends Context.Service<CredentialChanges, CredentialChangesShape>()(
  "@mcpgate/core/CredentialChanges"
) {}
