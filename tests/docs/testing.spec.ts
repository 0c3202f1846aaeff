/**
 * docs/testing.md describes the suite without numbers that go stale: its table of test areas names every spec under
 * tests/ (as `<area>/<module>`, or `<dir>/*` for a whole folder), names only specs that exist, and the text names
 * every folder `.mocharc.json` leaves out of `npm test`.
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as path from "path";
import { REPO_ROOT } from "../../support/stackFile";

const TESTING = path.join(REPO_ROOT, "docs", "testing.md");

function specFiles(dir: string): string[] {
    return fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? specFiles(path.join(dir, e.name)) : e.name.endsWith(".spec.ts") ? [path.join(dir, e.name)] : []));
}

/** Every spec under tests/, as the table names them: `tests/gpu/capacity.spec.ts` → `gpu/capacity`. */
function specNames(): string[] {
    const tests = path.join(REPO_ROOT, "tests");
    return specFiles(tests)
        .map((f) =>
            path
                .relative(tests, f)
                .split(path.sep)
                .join("/")
                .replace(/\.spec\.ts$/, ""),
        )
        .sort();
}

/** The names in the "specs" column of the table of test areas. */
function tableNames(markdown: string): string[] {
    const lines = markdown.split("\n");
    const start = lines.findIndex((l) => /^\| area \| specs/.test(l));
    assert.ok(start >= 0, "docs/testing.md has the table of test areas");
    const names: string[] = [];
    for (const line of lines.slice(start + 2)) {
        if (!line.startsWith("|")) break;
        const specs = line.split("|")[2];
        for (const m of specs.matchAll(/`([^`]+)`/g)) names.push(m[1]);
    }
    return names;
}

describe("docs: docs/testing.md lists the suite as it is", () => {
    const markdown = fs.readFileSync(TESTING, "utf8");
    const specs = specNames();
    const names = tableNames(markdown);
    const covers = (name: string, spec: string) => (name.endsWith("/*") ? spec.startsWith(name.slice(0, -1)) : spec === name);

    it("the table names every spec under tests/", () => {
        assert.ok(specs.length > 30, "specs found");
        assert.deepEqual(
            specs.filter((s) => !names.some((n) => covers(n, s))),
            [],
        );
    });

    it("the table names no spec that does not exist", () => {
        assert.deepEqual(
            names.filter((n) => !specs.some((s) => covers(n, s))),
            [],
        );
    });

    it("the text names every folder npm test leaves out, and its npm script", () => {
        const mocharc = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, ".mocharc.json"), "utf8")) as { ignore?: string[] };
        const scripts = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")).scripts as Record<string, string>;
        const intro = markdown.slice(0, markdown.indexOf("| area | specs"));
        for (const pattern of mocharc.ignore ?? []) {
            const folder = pattern.replace(/\*\*$/, "");
            assert.ok(intro.includes(`\`${folder}\``), `docs/testing.md names ${folder} as left out of npm test`);
            const script = Object.entries(scripts).find(([, run]) => run.includes(`${folder}.mocharc.json`))?.[0];
            assert.ok(script, `an npm script runs ${folder}`);
            assert.ok(intro.includes(`npm run ${script}`), `docs/testing.md names npm run ${script}`);
        }
    });
});
