/**
 * Every relative link and #anchor in the repository's markdown (README.md, docs/**) resolves, with GitHub's heading
 * slugs; so does every `runbook_url` the program's rendered objects carry (alerts link to docs/runbook.md sections).
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { anchorsOf, githubSlug, linkIssue, markdownFiles, markdownLinks, runbookUrlIssue, runbookUrlsIn } from "../helpers/docLinks";
import { REPO_ROOT, runStack } from "../../support/harness";

describe("docs: links and anchors", () => {
    describe("the checker", () => {
        it("slugs headings as GitHub does", () => {
            assert.equal(githubSlug("Promote dev → prod"), "promote-dev--prod");
            assert.equal(githubSlug("CUDA/driver mismatch (`no kernel image is available`)"), "cudadriver-mismatch-no-kernel-image-is-available");
            assert.equal(githubSlug("Helm: v3 Release or v4 Chart"), "helm-v3-release-or-v4-chart");
            assert.equal(githubSlug("GPUs: node pools, add-ons and the MIG route"), "gpus-node-pools-add-ons-and-the-mig-route");
            assert.equal(githubSlug("snake_case and **bold** [link](x.md)"), "snake_case-and-bold-link");
            assert.deepEqual([...anchorsOf('# A\n## A\n```\n# not a heading\n```\n### A\n<a id="x"></a>')], ["a", "a-1", "a-2", "x"]);
        });

        it("finds links outside code, and reports missing files, missing anchors and links out of the repository", () => {
            const links = markdownLinks('[a](x.md#b) `[c](d.md)`\n```\n[e](f.md)\n```\n![i](img.png "t")\n[ref]: y.md\n<a href="z.md">z</a>');
            assert.deepEqual(
                links.map((l) => [l.target, l.line]),
                [
                    ["x.md#b", 1],
                    ["img.png", 5],
                    ["y.md", 6],
                    ["z.md", 7],
                ],
            );
            const root = fs.mkdtempSync(path.join(os.tmpdir(), "links-"));
            try {
                fs.mkdirSync(path.join(root, "docs"));
                fs.writeFileSync(path.join(root, "README.md"), "# Top\n");
                fs.writeFileSync(path.join(root, "docs", "runbook.md"), "# Runbook\n## Abort and roll back\n");
                const from = path.join(root, "README.md");
                assert.equal(linkIssue(from, "docs/runbook.md#abort-and-roll-back", root), undefined);
                assert.equal(linkIssue(from, "#top", root), undefined);
                assert.equal(linkIssue(from, "https://example.com/x#y", root), undefined);
                assert.match(linkIssue(from, "docs/runbook.md#abort", root)!, /has no heading #abort/);
                assert.match(linkIssue(from, "docs/missing.md", root)!, /does not exist/);
                assert.match(linkIssue(from, "../elsewhere.md", root)!, /outside the repository/);
                assert.equal(runbookUrlIssue("https://github.com/acme/model-fleet/blob/main/docs/runbook.md#abort-and-roll-back", root), undefined);
                assert.equal(runbookUrlIssue("docs/runbook.md#abort-and-roll-back", root), undefined);
                assert.match(runbookUrlIssue("https://github.com/acme/model-fleet/blob/main/docs/runbook.md#rollback", root)!, /has no heading #rollback/);
                assert.match(runbookUrlIssue("https://wiki.example.com/runbook", root)!, /not a link to a section of docs/);
            } finally {
                fs.rmSync(root, { recursive: true, force: true });
            }
            assert.deepEqual(runbookUrlsIn({ spec: { groups: [{ rules: [{ annotations: { runbook_url: "docs/runbook.md#a" } }] }] } }), ["docs/runbook.md#a"]);
        });
    });

    const files = markdownFiles(REPO_ROOT);
    it("covers the README and docs/", () => {
        assert.ok(files.includes("README.md"));
        assert.ok(files.filter((f) => f.startsWith("docs/")).length >= 10, files.join(", "));
    });

    for (const file of files) {
        it(`${file}: every relative link and anchor resolves`, () => {
            const abs = path.join(REPO_ROOT, file);
            const issues = markdownLinks(fs.readFileSync(abs, "utf8"))
                .map((l) => ({ l, issue: linkIssue(abs, l.target, REPO_ROOT) }))
                .filter((x) => x.issue !== undefined)
                .map(({ l, issue }) => `${file}:${l.line}: ${issue}`);
            assert.deepEqual(issues, []);
        });
    }

    for (const stack of ["dev", "prod"]) {
        it(`stack ${stack}: every runbook_url an object carries names a section of docs/`, async () => {
            const run = await runStack(stack);
            const urls = runbookUrlsIn(run.resources.map((r) => r.inputs));
            assert.deepEqual(urls.map((u) => runbookUrlIssue(u, REPO_ROOT)).filter(Boolean), []);
        });
    }
});
