/**
 * Every repository path the docs quote in a code span (`components/serving/ModelService.ts`, `tests/admission/`)
 * exists. Links are checked by tests/docs/links.spec.ts; this catches the paths that are only named.
 *
 * Only what is unmistakably a path of this repository is checked, so the check has no false positives: a single
 * token with a `/`, whose first segment is a top-level folder the repository tracks (`git ls-files`), outside
 * fenced code blocks. Upstream paths (`charts/gpu-operator/values.yaml`, `pkg/resource/…`) start elsewhere; URLs,
 * `~/…`, absolute paths, placeholders (`<x>`, `…`, `*`, `{a,b}`, `$VAR`) and paths under generated or ignored folders
 * (`out/`, `node_modules/`, `.reference/`, anything git ignores such as `bench/results.json`) are skipped. A path without an extension may name a module or a spec the
 * way the docs do: `scripts/cli` is `scripts/cli.ts`, and in the test tables `policy/pack` is
 * `tests/policy/pack.spec.ts`.
 */
import { strict as assert } from "assert";
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { markdownFiles } from "../helpers/docLinks";
import { REPO_ROOT } from "../../support/stackFile";

/** Folders that hold generated or fetched files, never tracked. */
const IGNORED = new Set(["out", "node_modules", ".reference"]);

/** The top-level folders the repository tracks. */
function trackedTopFolders(root: string): Set<string> {
    const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: root, encoding: "utf8" }).split("\0");
    return new Set(files.filter((f) => f.includes("/")).map((f) => f.split("/")[0]));
}

export interface QuotedPath {
    path: string;
    line: number;
}

/** Code spans outside fenced blocks that look like repository paths under one of `folders`. */
export function quotedPaths(markdown: string, folders: ReadonlySet<string>): QuotedPath[] {
    const out: QuotedPath[] = [];
    let fence: string | undefined;
    markdown.split("\n").forEach((text, i) => {
        const f = /^\s*(`{3,}|~{3,})/.exec(text);
        if (f) {
            if (fence === undefined) fence = f[1][0];
            else if (f[1][0] === fence) fence = undefined;
            return;
        }
        if (fence !== undefined) return;
        for (const m of text.matchAll(/(`+)([^`]+?)\1(?!`)/g)) {
            const token = m[2].trim().replace(/(?::\d+(?:-\d+)?|#L\d+(?:-L\d+)?)$/, ""); // a line suffix
            if (/\s/.test(token) || !token.includes("/")) continue;
            if (/^[a-z][a-z0-9+.-]*:\/\//i.test(token) || /^(~|\/|\$|-|\.\.?\/)/.test(token)) continue;
            if (/[<>{}*…$@:=|?,;()[\]'"]|\.\.\./.test(token)) continue;
            const first = token.split("/")[0];
            if (IGNORED.has(first) || !folders.has(first)) continue;
            out.push({ path: token, line: i + 1 });
        }
    });
    return out;
}

/** The paths of `paths` that git ignores (generated files such as `bench/results.json`): the docs may name them. */
function gitIgnored(root: string, paths: string[]): Set<string> {
    if (paths.length === 0) return new Set();
    try {
        const out = execFileSync("git", ["check-ignore", "--stdin", "-z"], { cwd: root, input: paths.join("\0") + "\0", encoding: "utf8" });
        return new Set(out.split("\0").filter(Boolean));
    } catch (e: any) {
        if (e?.status === 1) return new Set(); // none ignored
        throw e;
    }
}

/** Whether a quoted path names something in the repository (see the header for extensionless module names). */
export function pathExists(root: string, p: string): boolean {
    const clean = p.replace(/\/+$/, "");
    const candidates = [clean];
    if (!/\.[A-Za-z0-9]+$/.test(path.basename(clean))) candidates.push(`${clean}.ts`, `tests/${clean}.spec.ts`);
    return candidates.some((c) => fs.existsSync(path.join(root, c)));
}

describe("docs: repository paths quoted in code spans exist", () => {
    it("the checker takes repository paths only, and resolves module and spec names as the docs write them", () => {
        const folders = new Set(["components", "tests", "docs", "scripts", ".github", "policy"]);
        const md = [
            "`components/serving/labels.ts` and `tests/admission/` and `.github/workflows/pr.yml:12`",
            "`charts/gpu-operator/values.yaml` `https://github.com/a/b/blob/main/components/x.ts` `~/.cache/model-fleet/tools`",
            "`out/dev/resources.json` `tests/<area>/<module>.spec.ts` `components/…` `docs/*.md` `npm run plan -- --stack dev`",
            "`/etc/passwd` `model-fleet:models` `policy/{a,b}.json` `scripts/cli.ts#L10-L20`",
            "```bash",
            "cat components/fenced.ts `components/fenced.ts`",
            "```",
        ].join("\n");
        assert.deepEqual(
            quotedPaths(md, folders).map((q) => [q.path, q.line]),
            [
                ["components/serving/labels.ts", 1],
                ["tests/admission/", 1],
                [".github/workflows/pr.yml", 1],
                ["scripts/cli.ts", 4],
            ],
        );
        assert.ok(pathExists(REPO_ROOT, "scripts/cli"), "a module without .ts");
        assert.ok(pathExists(REPO_ROOT, "policy/pack"), "a spec under tests/, as the test tables name them");
        assert.ok(pathExists(REPO_ROOT, "tests/docs/"), "a folder");
        assert.ok(!pathExists(REPO_ROOT, "components/serving/labels.ts"));
        assert.ok(!pathExists(REPO_ROOT, "scripts/nothing"));
    });

    it("README.md and docs/**/*.md quote no path that does not exist", () => {
        const folders = trackedTopFolders(REPO_ROOT);
        const files = markdownFiles(REPO_ROOT).filter((f) => f === "README.md" || f.startsWith("docs/"));
        assert.ok(files.length >= 10, files.join(", "));
        const quoted = files.flatMap((file) => quotedPaths(fs.readFileSync(path.join(REPO_ROOT, file), "utf8"), folders).map((q) => ({ file, ...q })));
        assert.ok(quoted.length > 50, `only ${quoted.length} paths found: the scan is broken`);
        const ignored = gitIgnored(REPO_ROOT, [...new Set(quoted.map((q) => q.path))]);
        const broken = quoted
            .filter((q) => !ignored.has(q.path) && !pathExists(REPO_ROOT, q.path))
            .map((q) => `${q.file}:${q.line}: \`${q.path}\` does not exist`);
        assert.deepEqual(broken, [], `paths the docs quote that do not exist:\n  ${broken.join("\n  ")}`);
    });
});
