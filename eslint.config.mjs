// ESLint flat config: @eslint/js and typescript-eslint's recommended rules on every .ts file; the few rules turned
// off or narrowed are explained in docs/design/lint.md.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
    { ignores: ["node_modules/", "policy/node_modules/", "out/", ".reference/", "**/*.js", "**/*.mjs"] },
    js.configs.recommended,
    ...tseslint.configs.recommended,
    {
        files: ["**/*.ts"],
        languageOptions: { ecmaVersion: 2022, sourceType: "module" },
        rules: {
            // Raw input (stack config before zod, Kubernetes objects, API bodies) is typed `any` on purpose.
            "@typescript-eslint/no-explicit-any": "off",
            // `_name` marks a value left out on purpose (destructuring a field away, an unused callback argument).
            "@typescript-eslint/no-unused-vars": [
                "error",
                { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true },
            ],
            // Rethrown errors already carry the caught error's message; Pulumi and the commands print messages only.
            "preserve-caught-error": "off",
        },
    },
    {
        // The harness loads index.ts fresh for every run (require after clearing the module cache); tests load
        // fixtures and optional modules the same way, and match multi-space table output literally.
        files: ["support/harness.ts", "tests/**/*.ts"],
        rules: { "@typescript-eslint/no-require-imports": "off", "no-regex-spaces": "off" },
    },
);
