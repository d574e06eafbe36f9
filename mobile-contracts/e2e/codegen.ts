// Generates TypeScript types and typed documents for every contract
// operation, from the checked-in schema snapshot: no server needed.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: "../schema.graphql",
  documents: ["../distributor/*.graphql", "../store/*.graphql", "../salesman/*.graphql", "../console/*.graphql"],
  generates: {
    "src/generated/graphql.ts": {
      plugins: ["typescript-operations", "typed-document-node"],
      config: {
        scalars: { DateTime: "string", Decimal: "string" },
        enumsAsTypes: true,
        avoidOptionals: { field: true, inputValue: false, object: false },
        useTypeImports: true,
      },
    },
  },
};

export default config;
