// ESLint (flat config): typescript-eslint's recommended rules with type information, and the
// rules of hooks. Run with `npm run lint`; scripts/lint.sh runs it with the other checks.
import path from "node:path";
import { fileURLToPath } from "node:url";
import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

// import.meta.dirname needs Node 20.11; Debian's Node 18 has only import.meta.url.
const here = path.dirname(fileURLToPath(import.meta.url));

export default tseslint.config(
  { ignores: ["dist/", "node_modules/", "test-artifacts/", "src/api/schema.gen.ts"] },
  js.configs.recommended,
  {
    files: ["**/*.{ts,tsx}"],
    extends: [...tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      globals: globals.browser,
      parserOptions: { projectService: true, tsconfigRootDir: here },
    },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "react-hooks/exhaustive-deps": "error",
    },
  },
  {
    files: ["**/*.{js,mjs}"],
    languageOptions: { globals: globals.node },
  },
);
