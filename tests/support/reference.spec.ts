/**
 * Upstream reference data (support/reference.ts): where the cross-checks look for it, and `npm run reference:fetch`,
 * which downloads the pins of reference.lock.json and checks their SHA-256 (here with a stand-in downloader).
 */
import { strict as assert } from "assert";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
    fetchReference,
    FETCHED_REFERENCE_DIR,
    findReferenceFile,
    missingReferenceMessage,
    ReferencePin,
    referencePins,
    referenceSources,
    sha256,
} from "../../support/reference";
import { REPO_ROOT } from "../../support/stackFile";

describe("upstream reference data (support/reference.ts)", () => {
    let tmp: string;
    before(() => (tmp = fs.mkdtempSync(path.join(os.tmpdir(), "reference-"))));
    after(() => fs.rmSync(tmp, { recursive: true, force: true }));

    it("looks in $MODEL_FLEET_REFERENCE_DIR, then ../shared/reference, then .reference/ (git-ignored)", () => {
        assert.deepEqual(
            referenceSources({ MODEL_FLEET_REFERENCE_DIR: tmp }).map((s) => [s.label, s.dir]),
            [
                ["$MODEL_FLEET_REFERENCE_DIR", tmp],
                ["../shared/reference", path.resolve(REPO_ROOT, "..", "shared", "reference")],
                [".reference/", FETCHED_REFERENCE_DIR],
            ],
        );
        assert.deepEqual(
            referenceSources({}).map((s) => s.label),
            ["../shared/reference", ".reference/"],
        );
        assert.match(fs.readFileSync(path.join(REPO_ROOT, ".gitignore"), "utf8"), /^\.reference\/$/m);
    });

    it("takes a file from the first place that has it", () => {
        const file = "charts/only-here/values.yaml";
        assert.equal(findReferenceFile(file, { MODEL_FLEET_REFERENCE_DIR: tmp }), undefined);
        fs.mkdirSync(path.join(tmp, "charts", "only-here"), { recursive: true });
        fs.writeFileSync(path.join(tmp, file), "a: 1\n");
        assert.equal(findReferenceFile(file, { MODEL_FLEET_REFERENCE_DIR: tmp }), path.join(tmp, "charts", "only-here", "values.yaml"));
        assert.equal(findReferenceFile(file, {}), undefined);
    });

    it("names the missing files, where it looked and the command that fetches them, in one line", () => {
        const msg = missingReferenceMessage(["charts/gpu-operator/values.yaml"], {});
        assert.equal(
            msg,
            "upstream reference data missing (charts/gpu-operator/values.yaml; looked in ../shared/reference, .reference/): run `npm run reference:fetch`",
        );
    });

    it("reference.lock.json pins the files the cross-checks read", () => {
        const paths = referencePins().map((p) => p.path);
        for (const f of [
            "harbor-v2.0-swagger.yaml",
            "nvidia-default-mig-parted-config.yaml",
            "charts/argo-rollouts/values.yaml",
            "charts/gpu-operator/values.yaml",
            "charts/nvidia-device-plugin/Chart.yaml",
        ]) {
            assert.ok(paths.includes(f), `${f} is pinned`);
        }
    });

    describe("npm run reference:fetch", () => {
        const good = Buffer.from("version: v1\n");
        const pins: ReferencePin[] = [
            { path: "a.yaml", url: "https://raw.githubusercontent.com/o/r/v1/a.yaml", sha256: sha256(good) },
            { path: "charts/b/values.yaml", url: "https://raw.githubusercontent.com/o/r/v1/b.yaml", sha256: sha256(good) },
        ];

        it("downloads every pin into the directory when the SHA-256 matches, and keeps files already there", async () => {
            const dest = path.join(tmp, "fetch-ok");
            const fetched: string[] = [];
            const first = await fetchReference({ dest, pins, download: async (url) => (fetched.push(url), good) });
            assert.deepEqual(first, { fetched: ["a.yaml", "charts/b/values.yaml"], kept: [], failed: [] });
            assert.deepEqual(fs.readFileSync(path.join(dest, "charts", "b", "values.yaml")), good);
            const again = await fetchReference({ dest, pins, download: async () => assert.fail("nothing to download") });
            assert.deepEqual(again, { fetched: [], kept: ["a.yaml", "charts/b/values.yaml"], failed: [] });
            assert.equal(fetched.length, 2);
        });

        it("rejects a download whose SHA-256 differs from the pin, and leaves no file behind", async () => {
            const dest = path.join(tmp, "fetch-bad");
            const report = await fetchReference({ dest, pins: [pins[0]], download: async () => Buffer.from("tampered\n") });
            assert.deepEqual(report.fetched, []);
            assert.equal(report.failed.length, 1);
            assert.match(
                report.failed[0],
                /^a\.yaml: SHA-256 [0-9a-f]{64} from https:\/\/raw\.githubusercontent\.com\/o\/r\/v1\/a\.yaml is not the pinned [0-9a-f]{64}$/,
            );
            assert.ok(!fs.existsSync(path.join(dest, "a.yaml")));
        });

        it("reports a failed download with its URL and goes on with the other files", async () => {
            const dest = path.join(tmp, "fetch-offline");
            const err = Object.assign(new Error("fetch failed"), { cause: { code: "ENOTFOUND" } });
            const report = await fetchReference({ dest, pins, download: async (url) => (url.endsWith("a.yaml") ? Promise.reject(err) : good) });
            assert.deepEqual(report.fetched, ["charts/b/values.yaml"]);
            assert.deepEqual(report.failed, [
                "a.yaml: could not download https://raw.githubusercontent.com/o/r/v1/a.yaml: ENOTFOUND (host not found: no network access?)",
            ]);
        });

        it("refuses a pin whose path leaves the reference directory", async () => {
            const report = await fetchReference({
                dest: path.join(tmp, "fetch-escape"),
                pins: [{ ...pins[0], path: "../escape.yaml" }],
                download: async () => good,
            });
            assert.deepEqual(report.failed, ["../escape.yaml: not a path under the reference directory"]);
            assert.ok(!fs.existsSync(path.join(tmp, "escape.yaml")));
        });
    });
});
