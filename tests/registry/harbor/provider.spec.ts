import { strict as assert } from "assert";
import Module from "module";
import * as pulumi from "@pulumi/pulumi";
import {
    harborImmutableRuleProvider as immutable,
    harborProjectProvider as project,
    harborRetentionPolicyProvider as retention,
    harborRobotAccountProvider as robot,
} from "../../../components/registry/harbor/provider";
import { HARBOR_SWAGGER, HarborStub, validateRequest } from "../../../support/harborStub";
import { needsReference } from "../../../support/reference";

type Dict = Record<string, any>;

describe("Harbor stub: swagger validation of requests", () => {
    before(function () {
        needsReference(this, HARBOR_SWAGGER);
    });

    it("accepts well-formed bodies and rejects unknown keys, wrong types, undeclared paths and query keys", () => {
        const rule = {
            disabled: false,
            action: "immutable",
            template: "immutable_template",
            tag_selectors: [{ kind: "doublestar", decoration: "matches", pattern: "v*" }],
            scope_selectors: { repository: [{ kind: "doublestar", decoration: "repoMatches", pattern: "**" }] },
        };
        assert.deepEqual(validateRequest("POST", "/api/v2.0/projects/7/immutabletagrules", {}, rule), []);
        // The misspelling the reference README warns about: Harbor would silently ignore it.
        const misspelt = { ...rule, tagSelectors: rule.tag_selectors };
        assert.match(validateRequest("POST", "/api/v2.0/projects/7/immutabletagrules", {}, misspelt).join(), /additional properties \(tagSelectors\)/);
        assert.match(validateRequest("POST", "/api/v2.0/projects/7/immutabletagrules", {}, { ...rule, disabled: "no" }).join(), /\/disabled must be boolean/);
        assert.match(
            validateRequest("POST", "/api/v2.0/retentions", {}, { rules: [{ params: { latestPushedK: 3 }, tag_selector: [] }] }).join(),
            /tag_selector/,
        );
        // Rule params are free-form (Harbor takes JSON integers where the swagger says object).
        assert.deepEqual(validateRequest("POST", "/api/v2.0/retentions", {}, { rules: [{ template: "latestPushedK", params: { latestPushedK: 3 } }] }), []);
        assert.match(validateRequest("POST", "/api/v2.0/project", {}, {}).join(), /no swagger path/);
        assert.match(validateRequest("PATCH", "/api/v2.0/projects/1", {}, {}).join(), /PATCH is not an operation/);
        assert.match(validateRequest("GET", "/api/v2.0/robots", { level: "project" }, undefined).join(), /query parameter level is not declared/);
        assert.match(validateRequest("GET", "/api/v2.0/robots/abc", {}, undefined).join(), /must be an integer/);
        assert.match(validateRequest("POST", "/api/v2.0/robots", {}, undefined).join(), /requires a JSON body/);
    });
});

describe("Harbor dynamic providers against a local stub", function () {
    this.timeout(20000);
    const stub = new HarborStub();
    let conn: Dict;

    before(function () {
        needsReference(this, HARBOR_SWAGGER);
    });
    before(async () => {
        await stub.start();
        conn = { url: stub.url, username: stub.username, password: stub.password };
    });
    after(async () => stub.stop());
    afterEach(() => {
        assert.deepEqual(stub.violations, [], "every request must match the Harbor swagger");
    });

    describe("project", () => {
        it("creates, reads, diffs, updates and deletes", async () => {
            const inputs = { ...conn, name: "models-crud" };
            const checked = await project.check!({}, inputs);
            const since = stub.requests.length;
            const created = await project.create(checked.inputs);
            assert.deepEqual(stub.writes(since), ["POST /api/v2.0/projects"]);
            const post = stub.requests.find((r) => r.method === "POST" && r.path === "/api/v2.0/projects")!;
            assert.deepEqual(post.body, {
                project_name: "models-crud",
                metadata: { public: "false", auto_scan: "true", prevent_vul: "false", severity: "high", enable_content_trust_cosign: "false" },
            });
            assert.equal(created.outs.projectId, Number(created.id));
            assert.equal(created.outs.autoScan, true);

            const read = await project.read!(created.id, created.outs);
            assert.equal(read.id, created.id);
            assert.deepEqual(await project.diff!(created.id, read.props, checked.inputs), { changes: false, replaces: [], deleteBeforeReplace: false });

            const changed = { ...checked.inputs, autoScan: false };
            assert.deepEqual(await project.diff!(created.id, created.outs, changed), { changes: true, replaces: [], deleteBeforeReplace: false });
            assert.deepEqual((await project.diff!(created.id, created.outs, { ...checked.inputs, name: "renamed" })).replaces, ["name"]);

            const before = stub.requests.length;
            const updated = await project.update!(created.id, created.outs, changed);
            assert.deepEqual(stub.writes(before), [`PUT /api/v2.0/projects/${created.id}`]);
            assert.equal(updated.outs.autoScan, false);
            assert.equal(stub.projects.get(Number(created.id))!.metadata.auto_scan, "false");

            await project.delete!(created.id, updated.outs);
            assert.equal(stub.projects.has(Number(created.id)), false);
            assert.deepEqual(await project.read!(created.id, updated.outs), {}, "a deleted project reads as gone");
            await project.delete!(created.id, updated.outs); // 404 → success
        });

        it("adopts an existing project on 409 and converges its metadata", async () => {
            const existing = stub.seedProject("models-adopt", { public: "true", auto_scan: "false" });
            const since = stub.requests.length;
            const created = await project.create({ ...conn, name: "models-adopt", public: false, autoScan: true });
            assert.equal(created.id, String(existing.project_id));
            assert.deepEqual(stub.writes(since), ["POST /api/v2.0/projects", `PUT /api/v2.0/projects/${existing.project_id}`]);
            assert.deepEqual(stub.projects.get(existing.project_id)!.metadata, {
                public: "false",
                auto_scan: "true",
                prevent_vul: "false",
                severity: "high",
                enable_content_trust_cosign: "false",
            });
            assert.equal(created.outs.public, false);
        });

        it("keeps auto_scan on, refuses vulnerable pulls at the configured severity and requires cosign signatures (issue #16)", async () => {
            const inputs = { ...conn, name: "models-gate", preventVul: true, severity: "critical", requireCosign: true };
            const checked = await project.check!({}, inputs);
            // (The stub serves plain HTTP, which check reports for url.)
            assert.deepEqual(
                (checked.failures ?? []).filter((f) => f.property !== "url"),
                [],
            );
            const created = await project.create(checked.inputs);
            const metadata = stub.projects.get(Number(created.id))!.metadata;
            assert.deepEqual(metadata, { public: "false", auto_scan: "true", prevent_vul: "true", severity: "critical", enable_content_trust_cosign: "true" });
            assert.equal(created.outs.preventVul, true);
            assert.equal(created.outs.severity, "critical");
            assert.equal(created.outs.requireCosign, true);
            const read = await project.read!(created.id, created.outs);
            assert.deepEqual(await project.diff!(created.id, read.props, checked.inputs), { changes: false, replaces: [], deleteBeforeReplace: false });
            // A threshold change is an in-place PUT of the metadata.
            const lowered = { ...checked.inputs, severity: "medium" };
            assert.deepEqual(await project.diff!(created.id, read.props, lowered), { changes: true, replaces: [], deleteBeforeReplace: false });
            const updated = await project.update!(created.id, read.props, lowered);
            assert.equal(updated.outs.severity, "medium");
            assert.equal(stub.projects.get(Number(created.id))!.metadata.severity, "medium");
        });

        it("check refuses a severity Harbor does not know", async () => {
            const checked = await project.check!({}, { ...conn, name: "models-bad", severity: "HIGH" });
            assert.deepEqual(
                (checked.failures ?? []).filter((f) => f.property !== "url"),
                [{ property: "severity", reason: "must be one of Harbor's severities: none, low, medium, high, critical" }],
            );
        });

        it("refuses to delete a project that still holds repositories", async () => {
            const p = stub.seedProject("models-full");
            stub.nonEmptyProjects.add(p.project_id);
            await assert.rejects(project.delete!(String(p.project_id), conn), /HTTP 412/);
        });

        it("check rejects plain http, missing credentials and bad names", async () => {
            const r = await project.check!({}, { url: "http://harbor.example.com", username: "", password: "", name: "Bad_Name" });
            assert.deepEqual(r.failures!.map((f) => f.property).sort(), ["name", "password", "url", "username"]);
            const ok = await project.check!({}, { url: "https://harbor.example.com", username: "admin", password: "x", name: "models" });
            assert.deepEqual(ok.failures, []);
            assert.equal(ok.inputs!.public, false);
            assert.equal(ok.inputs!.autoScan, true);
        });
    });

    describe("immutable tag rule", () => {
        it("creates v* immutability, reads, diffs, updates and deletes", async () => {
            const p = stub.seedProject("models-immutable");
            const checked = (await immutable.check!({}, { ...conn, projectId: p.project_id })).inputs!;
            const since = stub.requests.length;
            const created = await immutable.create(checked);
            assert.deepEqual(stub.writes(since), [`POST /api/v2.0/projects/${p.project_id}/immutabletagrules`]);
            assert.deepEqual(stub.requests.find((r) => r.method === "POST" && r.path.endsWith("/immutabletagrules"))!.body, {
                disabled: false,
                action: "immutable",
                template: "immutable_template",
                tag_selectors: [{ kind: "doublestar", decoration: "matches", pattern: "v*" }],
                scope_selectors: { repository: [{ kind: "doublestar", decoration: "repoMatches", pattern: "**" }] },
            });
            assert.equal(created.outs.tagPattern, "v*");

            const read = await immutable.read!(created.id, created.outs);
            assert.equal((await immutable.diff!(created.id, read.props, checked)).changes, false);
            assert.deepEqual((await immutable.diff!(created.id, read.props, { ...checked, projectId: 999 })).replaces, ["projectId"]);

            const changed = { ...checked, tagPattern: "release-*" };
            assert.deepEqual(await immutable.diff!(created.id, read.props, changed), { changes: true, replaces: [], deleteBeforeReplace: false });
            const before = stub.requests.length;
            await immutable.update!(created.id, read.props, changed);
            assert.deepEqual(stub.writes(before), [`PUT /api/v2.0/projects/${p.project_id}/immutabletagrules/${created.id}`]);
            assert.equal(stub.immutableRules.get(Number(created.id))!.tag_selectors[0].pattern, "release-*");

            await immutable.delete!(created.id, read.props);
            assert.deepEqual(await immutable.read!(created.id, read.props), {});
            await immutable.delete!(created.id, read.props); // 404 → success
        });

        it("adopts an existing (disabled) rule on 409 and enables it", async () => {
            const p = stub.seedProject("models-immutable-adopt");
            const first = await immutable.create({ ...conn, projectId: p.project_id });
            stub.immutableRules.get(Number(first.id))!.disabled = true;
            const since = stub.requests.length;
            const again = await immutable.create({ ...conn, projectId: p.project_id, tagPattern: "v*" });
            assert.equal(again.id, first.id);
            assert.deepEqual(stub.writes(since), [
                `POST /api/v2.0/projects/${p.project_id}/immutabletagrules`,
                `PUT /api/v2.0/projects/${p.project_id}/immutabletagrules/${first.id}`,
            ]);
            assert.equal(stub.immutableRules.get(Number(first.id))!.disabled, false);
            assert.equal(stub.immutableRules.size >= 1, true);
        });
    });

    describe("retention policy", () => {
        const spec = (projectId: number) => ({ ...conn, projectId, keepReleases: 10, protectPatterns: ["prod-*", "rollback-*"], untaggedDays: 3 });

        it("creates latestPushedK + always + untagged cleanup on a schedule, reads, diffs, updates and deletes", async () => {
            const p = stub.seedProject("models-retention");
            const checked = (await retention.check!({}, spec(p.project_id))).inputs!;
            const since = stub.requests.length;
            const created = await retention.create(checked);
            assert.deepEqual(stub.writes(since), ["POST /api/v2.0/retentions"]);
            const body = stub.requests.find((r) => r.method === "POST" && r.path === "/api/v2.0/retentions")!.body;
            const all = { repository: [{ kind: "doublestar", decoration: "repoMatches", pattern: "**" }] };
            const sel = (decoration: string, pattern: string, untagged: boolean) => [
                { kind: "doublestar", decoration, pattern, extras: JSON.stringify({ untagged }) },
            ];
            assert.deepEqual(body, {
                algorithm: "or",
                rules: [
                    { disabled: false, action: "retain", template: "always", params: {}, tag_selectors: sel("matches", "prod-*", false), scope_selectors: all },
                    {
                        disabled: false,
                        action: "retain",
                        template: "always",
                        params: {},
                        tag_selectors: sel("matches", "rollback-*", false),
                        scope_selectors: all,
                    },
                    {
                        disabled: false,
                        action: "retain",
                        template: "latestPushedK",
                        params: { latestPushedK: 10 },
                        tag_selectors: sel("matches", "v*", false),
                        scope_selectors: all,
                    },
                    {
                        disabled: false,
                        action: "retain",
                        template: "nDaysSinceLastPush",
                        params: { nDaysSinceLastPush: 3 },
                        tag_selectors: sel("matches", "**", true),
                        scope_selectors: all,
                    },
                ],
                trigger: { kind: "Schedule", settings: { cron: "0 0 0 * * *" }, references: {} },
                scope: { level: "project", ref: p.project_id },
            });
            assert.equal(typeof body.rules[2].params.latestPushedK, "number", "Harbor parses latestPushedK as a JSON integer");
            assert.equal(stub.projects.get(p.project_id)!.metadata.retention_id, created.id);

            const read = await retention.read!(created.id, created.outs);
            assert.deepEqual(
                {
                    keepReleases: read.props.keepReleases,
                    protectPatterns: read.props.protectPatterns,
                    untaggedDays: read.props.untaggedDays,
                    schedule: read.props.schedule,
                },
                { keepReleases: 10, protectPatterns: ["prod-*", "rollback-*"], untaggedDays: 3, schedule: "0 0 0 * * *" },
            );
            assert.equal((await retention.diff!(created.id, read.props, checked)).changes, false, "an unchanged config is a no-op");

            const changed = { ...checked, keepReleases: 20, protectPatterns: ["prod-*"] };
            assert.deepEqual(await retention.diff!(created.id, read.props, changed), { changes: true, replaces: [], deleteBeforeReplace: false });
            const before = stub.requests.length;
            const updated = await retention.update!(created.id, read.props, changed);
            assert.deepEqual(stub.writes(before), [`PUT /api/v2.0/retentions/${created.id}`]);
            assert.equal(updated.outs.keepReleases, 20);
            assert.equal(stub.retentions.get(Number(created.id))!.rules.length, 3);

            await retention.delete!(created.id, updated.outs);
            assert.equal(stub.retentions.has(Number(created.id)), false);
            assert.deepEqual(await retention.read!(created.id, updated.outs), {});
            await retention.delete!(created.id, updated.outs); // Harbor's 400-for-missing → success once confirmed gone
        });

        it("adopts the policy already bound to the project instead of failing", async () => {
            const p = stub.seedProject("models-retention-adopt");
            const first = await retention.create(spec(p.project_id));
            const since = stub.requests.length;
            const again = await retention.create({ ...spec(p.project_id), keepReleases: 15 });
            assert.equal(again.id, first.id);
            assert.deepEqual(stub.writes(since), [`PUT /api/v2.0/retentions/${first.id}`]);
            assert.equal(again.outs.keepReleases, 15);
        });

        it("adopts on a 409 from POST as well (another client bound a policy meanwhile)", async () => {
            const p = stub.seedProject("models-retention-409");
            const rid = 9000 + p.project_id;
            stub.failNext.push({
                method: "POST",
                path: "/api/v2.0/retentions",
                status: 409,
                body: { errors: [{ code: "CONFLICT", message: "exists" }] },
                effect: () => {
                    stub.retentions.set(rid, { id: rid, algorithm: "or", rules: [], scope: { level: "project", ref: p.project_id } });
                    p.metadata.retention_id = String(rid);
                },
            });
            const since = stub.requests.length;
            const created = await retention.create(spec(p.project_id));
            assert.equal(created.id, String(rid));
            assert.deepEqual(stub.writes(since), ["POST /api/v2.0/retentions", `PUT /api/v2.0/retentions/${rid}`]);
            assert.equal(stub.retentions.get(rid)!.rules.length, 4);
        });

        it("check enforces Harbor's limits", async () => {
            const tooMany = Array.from({ length: 14 }, (_, i) => `p${i}-*`);
            const r = await retention.check!(
                {},
                { ...conn, url: "https://h.example.com", projectId: 1, keepReleases: 40000, protectPatterns: tooMany, untaggedDays: 0, schedule: "@daily" },
            );
            assert.deepEqual(r.failures!.map((f) => f.property).sort(), ["keepReleases", "protectPatterns", "schedule", "untaggedDays"]);
            const dup = await retention.check!(
                {},
                { ...conn, url: "https://h.example.com", projectId: 1, keepReleases: 5, protectPatterns: ["a", "a"], untaggedDays: 1 },
            );
            assert.match(dup.failures!.map((f) => f.reason).join(), /must not repeat/);
        });
    });

    describe("robot account", () => {
        it("creates a pull-only robot, keeps its secret through read and update, and deletes it", async () => {
            const p = stub.seedProject("models-robot");
            const checked = (await robot.check!({}, { ...conn, projectId: p.project_id, projectName: p.name, name: "puller" })).inputs!;
            const created = await robot.create(checked);
            const post = stub.requests.find((r) => r.method === "POST" && r.path === "/api/v2.0/robots")!;
            assert.deepEqual(post.body.permissions, [{ kind: "project", namespace: "models-robot", access: [{ resource: "repository", action: "pull" }] }]);
            assert.equal(post.body.level, "project");
            assert.equal(post.body.duration, -1);
            assert.equal(created.outs.fullName, "robot$models-robot+puller");
            assert.equal(created.outs.secret, stub.robots.get(Number(created.id))!.secret);

            const read = await robot.read!(created.id, created.outs);
            assert.equal(read.props.secret, created.outs.secret, "refresh cannot read the secret back, so it keeps it");
            assert.equal((await robot.diff!(created.id, read.props, checked)).changes, false);
            assert.deepEqual((await robot.diff!(created.id, read.props, { ...checked, name: "other" })).replaces, ["name"]);

            const changed = { ...checked, description: "pulls for the GPU nodes" };
            const before = stub.requests.length;
            const updated = await robot.update!(created.id, read.props, changed);
            assert.deepEqual(stub.writes(before), [`PUT /api/v2.0/robots/${created.id}`]);
            assert.equal(stub.robots.get(Number(created.id))!.description, "pulls for the GPU nodes");
            assert.equal(updated.outs.secret, created.outs.secret);

            await robot.delete!(created.id, updated.outs);
            assert.deepEqual(await robot.read!(created.id, updated.outs), {});
            await robot.delete!(created.id, updated.outs); // 404 → success
        });

        it("adopts an existing robot on 409 and rotates its secret (Harbor never returns an existing one)", async () => {
            const p = stub.seedProject("models-robot-adopt");
            const first = await robot.create({ ...conn, projectId: p.project_id, projectName: p.name, name: "puller" });
            const since = stub.requests.length;
            const again = await robot.create({ ...conn, projectId: p.project_id, projectName: p.name, name: "puller" });
            assert.equal(again.id, first.id);
            assert.deepEqual(stub.writes(since), ["POST /api/v2.0/robots", `PUT /api/v2.0/robots/${first.id}`, `PATCH /api/v2.0/robots/${first.id}`]);
            assert.notEqual(again.outs.secret, first.outs.secret);
            assert.equal(again.outs.secret, stub.robots.get(Number(first.id))!.secret);
        });
    });

    describe("as the engine runs it", () => {
        it("the serialized provider (the __provider text) loads without the project and works against Harbor", async () => {
            // What @pulumi/pulumi's dynamic-provider host does: serialize with the closure serializer, then
            // `requireFromString(text).handler()` in a separate process with no access to this repository.
            const { text } = await pulumi.runtime.serializeFunction(() => robot, { allowSecrets: true });
            assert.ok(!text.includes(stub.password));
            const m = new Module("harbor-provider.js") as any;
            m.paths = [];
            m._compile(text, "/nonexistent/harbor-provider.js");
            const loaded = m.exports.handler() as typeof robot;
            const p = stub.seedProject("models-serialized");
            const created = await loaded.create({ ...conn, projectId: p.project_id, projectName: p.name, name: "serialized" });
            assert.equal(created.outs.fullName, "robot$models-serialized+serialized");
            assert.equal(
                (await loaded.diff!(created.id, created.outs, { ...conn, projectId: p.project_id, projectName: p.name, name: "serialized" })).changes,
                false,
            );
            await loaded.delete!(created.id, created.outs);
            assert.equal(stub.robots.has(Number(created.id)), false);
        });
    });

    describe("credentials", () => {
        it("authenticate every request with HTTP Basic from the (secret) inputs", () => {
            const expected = "Basic " + Buffer.from(`${stub.username}:${stub.password}`).toString("base64");
            assert.ok(stub.requests.length > 20);
            assert.deepEqual(
                stub.requests.filter((r) => r.authorization !== expected),
                [],
            );
        });

        it("never put the password in an error message", async () => {
            stub.failNext.push({ method: "POST", path: "/api/v2.0/projects", status: 500, body: { errors: [{ code: "INTERNAL", message: "boom" }] } });
            const err = await project.create({ ...conn, name: "models-err" }).then(
                () => undefined,
                (e: Error) => e,
            );
            assert.ok(err, "a 500 must fail the create");
            assert.match(err!.message, /HTTP 500: INTERNAL: boom/);
            assert.ok(!err!.message.includes(stub.password));
            assert.ok(!err!.message.includes(Buffer.from(`${stub.username}:${stub.password}`).toString("base64")));
        });

        it("a wrong password is a 401, not an adoption or a silent success", async () => {
            await assert.rejects(
                project.create({ ...conn, password: "wrong", name: "models-401" }),
                (e: Error) => /HTTP 401/.test(e.message) && !e.message.includes("wrong"),
            );
        });
    });
});
