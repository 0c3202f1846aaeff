/**
 * The layers import one way (docs/design/layers.md): `index.ts → components/ → config/ → domain/`, components use
 * config's types only, support/ → release/ → scripts/ → bench/ and sandbox/ sit on top, and nothing but tests imports tests/.
 * Every relative import of every tracked .ts file is parsed with the TypeScript compiler API.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import * as ts from "typescript";
import { REPO_ROOT } from "../../support/stackFile";

export interface ImportEdge {
    from: string;
    to: string;
    typeOnly: boolean;
}

/** The layer of a repository path (the first directory, or `index` for index.ts). */
export function layerOf(file: string): string {
    return file === "index.ts" ? "index" : file.split("/")[0];
}

/** What each layer may import (besides itself); `type:` entries only with `import type`. */
export const ALLOWED: Record<string, readonly string[]> = {
    domain: [],
    config: ["domain"],
    components: ["domain", "type:config"],
    index: ["components", "config", "domain"],
    policy: [],
    support: ["index", "components", "config", "domain", "policy"],
    // Release logic (promotion, signing, scan gates): pure functions over the stack files and the domain, below the
    // commands; never the program or its components.
    release: ["support", "config", "domain"],
    scripts: ["release", "support", "index", "components", "config", "domain", "policy"],
    // The engine benchmark runs on the sandbox's control plane.
    bench: ["sandbox", "scripts", "release", "support", "index", "components", "config", "domain", "policy"],
    sandbox: ["scripts", "release", "support", "index", "components", "config", "domain", "policy"],
    tests: ["sandbox", "bench", "scripts", "release", "support", "index", "components", "config", "domain", "policy"],
};

/** Why `edge` runs against the direction, or undefined when it is allowed. */
export function violation(edge: ImportEdge): string | undefined {
    const from = layerOf(edge.from);
    const to = layerOf(edge.to);
    if (from === to) return undefined;
    const allowed = ALLOWED[from];
    if (allowed === undefined) return `${from}/ is not a known layer`;
    if (allowed.includes(to)) return undefined;
    if (edge.typeOnly && allowed.includes(`type:${to}`)) return undefined;
    if (allowed.includes(`type:${to}`)) return `${from}/ may import only types from ${to}/ (use \`import type\`)`;
    return `${from}/ must not import ${to === "index" ? "index.ts" : `${to}/`}`;
}

function resolveImport(fromFile: string, spec: string): string | undefined {
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(fromFile), spec));
    for (const cand of [`${base}.ts`, `${base}/index.ts`, base]) {
        const abs = path.join(REPO_ROOT, cand);
        if (fs.existsSync(abs) && fs.statSync(abs).isFile()) return cand;
    }
    return undefined;
}

/** The relative imports of one file: import/export declarations, `import x = require()`, `require()` and `import()`. */
export function importsOf(file: string, text: string): ImportEdge[] {
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    const edges: ImportEdge[] = [];
    const add = (spec: ts.Expression | undefined, typeOnly: boolean) => {
        if (!spec || !ts.isStringLiteralLike(spec) || !spec.text.startsWith(".")) return;
        const to = resolveImport(file, spec.text);
        edges.push({ from: file, to: to ?? path.posix.normalize(path.posix.join(path.posix.dirname(file), spec.text)), typeOnly });
    };
    const visit = (node: ts.Node): void => {
        if (ts.isImportDeclaration(node)) {
            const clause = node.importClause;
            const typeOnly =
                clause !== undefined &&
                (clause.isTypeOnly ||
                    (clause.name === undefined &&
                        clause.namedBindings !== undefined &&
                        ts.isNamedImports(clause.namedBindings) &&
                        clause.namedBindings.elements.length > 0 &&
                        clause.namedBindings.elements.every((e) => e.isTypeOnly)));
            add(node.moduleSpecifier, typeOnly);
        } else if (ts.isExportDeclaration(node)) {
            add(node.moduleSpecifier, node.isTypeOnly);
        } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
            add(node.moduleReference.expression, node.isTypeOnly);
        } else if (ts.isCallExpression(node)) {
            const callee = node.expression;
            if (callee.kind === ts.SyntaxKind.ImportKeyword || (ts.isIdentifier(callee) && callee.text === "require")) add(node.arguments[0], false);
        } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
            add(node.argument.literal as ts.Expression, true);
        }
        ts.forEachChild(node, visit);
    };
    visit(source);
    return edges;
}

function trackedTsFiles(): string[] {
    return execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "*.ts"], { cwd: REPO_ROOT, encoding: "utf8" })
        .split("\n")
        .filter((f) => f !== "" && fs.existsSync(path.join(REPO_ROOT, f)) && !f.startsWith("node_modules/"));
}

/** Import cycles (strongly connected components of more than one file, or a file importing itself). */
export function cycles(edges: readonly ImportEdge[]): string[][] {
    const graph = new Map<string, string[]>();
    for (const e of edges) graph.set(e.from, [...(graph.get(e.from) ?? []), e.to]);
    let index = 0;
    const idx = new Map<string, number>();
    const low = new Map<string, number>();
    const stack: string[] = [];
    const onStack = new Set<string>();
    const out: string[][] = [];
    const strong = (v: string): void => {
        idx.set(v, index);
        low.set(v, index++);
        stack.push(v);
        onStack.add(v);
        for (const w of graph.get(v) ?? []) {
            if (!idx.has(w)) {
                strong(w);
                low.set(v, Math.min(low.get(v)!, low.get(w)!));
            } else if (onStack.has(w)) {
                low.set(v, Math.min(low.get(v)!, idx.get(w)!));
            }
        }
        if (low.get(v) === idx.get(v)) {
            const scc: string[] = [];
            let w: string;
            do {
                w = stack.pop()!;
                onStack.delete(w);
                scc.push(w);
            } while (w !== v);
            if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) out.push(scc.sort());
        }
    };
    for (const v of graph.keys()) if (!idx.has(v)) strong(v);
    return out;
}

describe("architecture: imports run one way", () => {
    const files = trackedTsFiles();
    const edges = files.flatMap((f) => importsOf(f, fs.readFileSync(path.join(REPO_ROOT, f), "utf8")));

    it("parses the imports of every .ts file (sanity: the program's own imports are found)", () => {
        assert.ok(files.length > 100, `${files.length} files`);
        assert.ok(edges.some((e) => e.from === "index.ts" && e.to === "config/load.ts"));
    });

    it("every relative import resolves to a file", () => {
        const unresolved = edges.filter((e) => !fs.existsSync(path.join(REPO_ROOT, e.to))).map((e) => `${e.from} → ${e.to}`);
        assert.deepEqual(unresolved, []);
    });

    it("no import runs against the direction (index → components → config types → domain; support → release → scripts → bench, sandbox; nothing imports tests/)", () => {
        const bad = edges.flatMap((e) => {
            const why = violation(e);
            return why ? [`${e.from} → ${e.to}${e.typeOnly ? " (type)" : ""}: ${why}`] : [];
        });
        assert.deepEqual(bad, []);
    });

    it("no import cycle between files outside tests/", () => {
        assert.deepEqual(cycles(edges.filter((e) => layerOf(e.from) !== "tests")), []);
    });

    it("no import cycle between the component areas (serving, rollouts, gpu, …)", () => {
        const area = (f: string) => f.split("/").slice(0, 2).join("/");
        const areaEdges = edges
            .filter((e) => layerOf(e.from) === "components" && layerOf(e.to) === "components" && area(e.from) !== area(e.to))
            .map((e) => ({ from: area(e.from), to: area(e.to), typeOnly: e.typeOnly }));
        assert.deepEqual(cycles(areaEdges), []);
    });

    it("the check itself catches a wrong-way import, a value import of config in components, and a cycle", () => {
        assert.match(violation({ from: "config/schema.ts", to: "components/gpu/labels.ts", typeOnly: false })!, /config\/ must not import components\//);
        assert.match(violation({ from: "components/serving/ModelService.ts", to: "config/schema.ts", typeOnly: false })!, /only types/);
        assert.equal(violation({ from: "components/serving/ModelService.ts", to: "config/schema.ts", typeOnly: true }), undefined);
        assert.match(violation({ from: "scripts/plan.ts", to: "tests/helpers/k8sValidate.ts", typeOnly: false })!, /must not import tests\//);
        assert.match(violation({ from: "domain/labels.ts", to: "index.ts", typeOnly: true })!, /must not import index\.ts/);
        const parsed = importsOf(
            "components/x.ts",
            'import type { A } from "../config/schema";\nimport { b } from "./b";\nconst c = require("../domain/labels");\nexport { d } from "./d";',
        );
        assert.deepEqual(
            parsed.map((e) => [e.to.replace(/\.ts$/, ""), e.typeOnly]),
            [
                ["config/schema", true],
                ["components/b", false],
                ["domain/labels", false],
                ["components/d", false],
            ],
        );
        assert.deepEqual(
            cycles([
                { from: "a", to: "b", typeOnly: true },
                { from: "b", to: "a", typeOnly: false },
            ]),
            [["a", "b"]],
        );
    });
});
