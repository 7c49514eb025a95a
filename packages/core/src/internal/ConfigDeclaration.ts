/**
 * How a config object is declared once (../Config.ts): a table of fields, each
 * with its leaf Schema, whether it is required, optional or has a default, its
 * aliases and its documentation, plus the object's cross-field rules. From a
 * declaration come the TypeScript type (`Decoded`), the decoder with its
 * messages and suggestions (../ConfigSchema.ts), the encoder (same file) and
 * the configuration reference (../ConfigReference.ts, docs/configuration.md).
 */
import type { Redacted, Schema } from "effect"

/** A leaf: any Schema decoding the plain JSON value (strings already interpolated). */
export type Leaf = Schema.ConstraintDecoder<unknown>

interface FieldDocs {
  /** One or two sentences for the reference. */
  readonly doc: string
  /** Other spellings accepted for this key (VS Code, omlx). */
  readonly aliases?: ReadonlyArray<string> | undefined
  /**
   * A credential or key: decoded to `Redacted` (each string of a list), so it
   * never prints; written back as the text; the reference says to put it in `${env:…}`.
   */
  readonly secret?: boolean | undefined
  /** Overrides the type shown in the reference. */
  readonly type?: string | undefined
}

export type PresenceTag = "Required" | "Optional" | "Default"

export type Presence<P extends PresenceTag, A> = P extends "Required"
  ? { readonly _tag: "Required"; readonly example: string }
  : P extends "Optional"
    ? { readonly _tag: "Optional" }
    : {
        readonly _tag: "Default"
        readonly value: A
        /** Written by the encoder even when it is the default (the top-level settings people tune). */
        readonly alwaysWritten: boolean
      }

export interface ValueField<S extends Leaf = Leaf, P extends PresenceTag = PresenceTag> extends FieldDocs {
  readonly _tag: "Value"
  readonly schema: S
  readonly presence: Presence<P, S["Type"]>
}

export interface ObjectField<
  O extends AnyObject = AnyObject,
  P extends "Optional" | "Default" = "Optional" | "Default"
> extends FieldDocs {
  readonly _tag: "Object"
  readonly object: O
  /** `Default`: absent means every field at its default, and it is always written. */
  readonly presence: { readonly _tag: P }
}

/** An object of entries by name (`mcpServers`): `_` names are comments, names are never empty. */
export interface MapField<
  O extends AnyObject = AnyObject,
  P extends "Optional" | "Default" = "Optional" | "Default"
> extends FieldDocs {
  readonly _tag: "Map"
  readonly object: O
  /** What the entries are, for "expected an object of … by name". */
  readonly entries: string
  /** What a name is, for "a … must not be empty" and "duplicate …". */
  readonly entryName: string
  /** `Default`: absent means no entries; `Optional`: absent stays absent. */
  readonly presence: { readonly _tag: P }
}

export type Field = ValueField | ObjectField | MapField

export type Fields = Readonly<Record<string, Field>>

/** Where a cross-field rule reports, and what it can see of the written object. */
export interface RuleContext {
  /** Whether the key (canonical) was written. */
  readonly has: (key: string) => boolean
  /** Offset of the key in the text, to tell which of two came later. */
  readonly offsetOf: (key: string) => number
  readonly reportAtKey: (key: string, message: string) => void
  readonly reportAtValue: (key: string, message: string) => void
  /**
   * A problem of the object as a whole (its path): at the value of `near` when
   * that was written, else at the closing brace (after any misspelt key inside).
   */
  readonly reportMissing: (message: string, near?: string) => void
}

// Methods (not function properties) so that any declaration is an `AnyObject`.
export interface ObjectDeclaration<F extends Fields, Out> {
  /** Where it sits, for the reference (`mcpServers.<name>.auth`). */
  readonly path: string
  readonly doc: string
  readonly fields: F
  /** Keys accepted for compatibility and ignored. */
  readonly ignored?: ReadonlyArray<string> | undefined
  /** An extra hint for an unknown key without a close match (`valueKeys`: the keys of an object value). */
  hint?(key: string, valueKeys: ReadonlyArray<string> | undefined): string | undefined
  /** Cross-field rules, run once every field is decoded (whatever failed). */
  rules?(decoded: Partial<Decoded<F>>, at: RuleContext): void
  /** The model from the decoded fields (`name`: the entry's name in a map). */
  finish(decoded: Decoded<F>, name: string): Out
  /** The inverse of `finish`, for the encoder. */
  unfinish(value: Out): Decoded<F>
}

export type AnyObject = ObjectDeclaration<Fields, unknown>

export type Model<O extends AnyObject> = ReturnType<O["finish"]>

/** A secret field's decoded form: every string in it `Redacted`. */
export type Secret<A> = A extends string
  ? Redacted.Redacted<A>
  : A extends ReadonlyArray<infer E>
    ? ReadonlyArray<Secret<E>>
    : never

type FieldType<F> = F extends { readonly _tag: "Value"; readonly schema: infer S extends Leaf }
  ? F extends { readonly secret: true }
    ? Secret<S["Type"]>
    : S["Type"]
  : F extends { readonly _tag: "Object"; readonly object: infer O extends AnyObject }
    ? Model<O>
    : F extends { readonly _tag: "Map"; readonly object: infer O extends AnyObject }
      ? Readonly<Record<string, Model<O>>>
      : never

type OptionalKeys<F extends Fields> = {
  readonly [K in keyof F]: F[K]["presence"]["_tag"] extends "Optional" ? K : never
}[keyof F]

type Simplify<A> = { readonly [K in keyof A]: A[K] } & {}

/** The type of an object's decoded fields: required and defaulted keys present, optional ones optional. */
export type Decoded<F extends Fields> = Simplify<
  { readonly [K in Exclude<keyof F, OptionalKeys<F>>]: FieldType<F[K]> } & {
    readonly [K in OptionalKeys<F>]?: FieldType<F[K]>
  }
>

// ---------------------------------------------------------------------------
// Constructors

// The docs are kept in the field's type (`const D`): a literal `secret: true` makes its decoded type `Secret<…>`.
type Docs = FieldDocs

export const required = <S extends Leaf, const D extends Docs & { readonly example: string }>(
  schema: S,
  docs: D
): ValueField<S, "Required"> & D => ({
  ...docs,
  _tag: "Value",
  schema,
  presence: { _tag: "Required", example: docs.example }
})

export const optional = <S extends Leaf, const D extends Docs>(
  schema: S,
  docs: D
): ValueField<S, "Optional"> & D => ({
  ...docs,
  _tag: "Value",
  schema,
  presence: { _tag: "Optional" }
})

export const withDefault = <
  S extends Leaf,
  const D extends Docs & { readonly alwaysWritten?: boolean | undefined }
>(
  schema: S,
  value: S["Type"],
  docs: D
): ValueField<S, "Default"> & D => ({
  ...docs,
  _tag: "Value",
  schema,
  presence: { _tag: "Default", value, alwaysWritten: docs.alwaysWritten === true }
})

export const optionalObject = <O extends AnyObject>(object: O, docs: Docs): ObjectField<O, "Optional"> => ({
  ...docs,
  _tag: "Object",
  object,
  presence: { _tag: "Optional" }
})

export const defaultedObject = <O extends AnyObject>(object: O, docs: Docs): ObjectField<O, "Default"> => ({
  ...docs,
  _tag: "Object",
  object,
  presence: { _tag: "Default" }
})

export const entriesByName = <O extends AnyObject>(
  object: O,
  docs: Docs & { readonly entries: string; readonly entryName: string }
): MapField<O, "Default"> => ({ ...docs, _tag: "Map", object, presence: { _tag: "Default" } })

/** Entries by name that may be absent altogether (e.g. `server.users`). */
export const optionalEntriesByName = <O extends AnyObject>(
  object: O,
  docs: Docs & { readonly entries: string; readonly entryName: string }
): MapField<O, "Optional"> => ({ ...docs, _tag: "Map", object, presence: { _tag: "Optional" } })

/** An object whose model is its decoded fields. */
export const object = <const F extends Fields>(
  declaration: Omit<ObjectDeclaration<F, Decoded<F>>, "finish" | "unfinish">
): ObjectDeclaration<F, Decoded<F>> => ({
  ...declaration,
  finish: (decoded) => decoded,
  unfinish: (value) => value
})

/** An object with a model of its own (derived fields, the entry's name). */
export const objectWith = <const F extends Fields, Out>(declaration: ObjectDeclaration<F, Out>) => declaration

/** Every key a declaration accepts: the canonical ones, then the aliases. */
export const knownKeys = (declaration: AnyObject): ReadonlyArray<string> => [
  ...Object.keys(declaration.fields),
  ...Object.values(declaration.fields).flatMap((field) => field.aliases ?? [])
]
