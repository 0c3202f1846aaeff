/**
 * Both stacks plan with every container pinned by digest, and each model's workload runs exactly the image its
 * `images` stack output names. (Needs index.ts to wire ModelImage → ModelService and export `images`.)
 */
import { strict as assert } from "assert";
import { isDigestRef, parseDigestRef } from "../../domain/image/tag";
import { readFleetConfig } from "../../support/stackFile";
import { byType, K8sObject, k8sObjects, runStack, StackRun } from "../../support/harness";

const WORKLOAD_KINDS = new Set(["Pod", "Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Rollout"]);

interface ContainerRef {
    workload: string;
    container: string;
    image: string;
}

/** Every container (init, regular, ephemeral) of every workload object. */
export function containerImages(objects: K8sObject[]): ContainerRef[] {
    const out: ContainerRef[] = [];
    for (const o of objects) {
        if (!WORKLOAD_KINDS.has(o.kind)) continue;
        const podSpec = o.kind === "Pod" ? o.spec : o.kind === "CronJob" ? o.spec?.jobTemplate?.spec?.template?.spec : o.spec?.template?.spec;
        for (const key of ["initContainers", "containers", "ephemeralContainers"]) {
            for (const c of podSpec?.[key] ?? []) {
                out.push({ workload: `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`, container: c.name, image: c.image });
            }
        }
    }
    return out;
}

function stackModels(stack: string): Array<{ name: string; image: { build?: unknown; digest?: string; tag?: string } }> {
    return readFleetConfig(stack).config.models;
}

for (const stack of ["dev", "prod"]) {
    describe(`stack ${stack}: images by digest`, () => {
        let run: StackRun;
        before(async () => {
            run = await runStack(stack);
        });

        it("exports images: { <model>: { version, tag, digest, ref } } for every model", () => {
            const images = run.outputs.images;
            assert.ok(images && typeof images === "object", "stack output `images` is missing");
            assert.deepEqual(
                Object.keys(images).sort(),
                stackModels(stack)
                    .map((m) => m.name)
                    .sort(),
            );
            for (const [name, img] of Object.entries<any>(images)) {
                assert.ok(isDigestRef(img.ref), `${name}: ${img.ref}`);
                assert.equal(parseDigestRef(img.ref)?.digest, img.digest, name);
            }
        });
        it("every container of every workload is pinned by digest", () => {
            const containers = containerImages(k8sObjects(run.resources));
            assert.ok(containers.length >= stackModels(stack).length, "at least one container per model");
            const bad = containers.filter((c) => !isDigestRef(c.image));
            assert.deepEqual(bad, [], "containers not in <repo>@sha256:<64hex> form");
        });
        it("each model's workload runs the image the stack output names", () => {
            const images = containerImages(k8sObjects(run.resources)).map((c) => c.image);
            for (const [name, img] of Object.entries<any>(run.outputs.images)) {
                assert.ok(images.includes(img.ref), `${name}: no container runs ${img.ref}`);
            }
        });
        it("builds exactly the models configured to build, and none in a stack of promoted digests", () => {
            const builds = byType(run.resources, "docker-build:index:Image");
            const expected = stackModels(stack).filter((m) => m.image.build !== undefined).length;
            assert.equal(builds.length, expected);
            for (const m of stackModels(stack).filter((m) => m.image.digest)) {
                assert.equal(run.outputs.images[m.name].digest, m.image.digest, `${m.name} deploys its promoted digest`);
                assert.equal(run.outputs.images[m.name].tag, m.image.tag, `${m.name} reports the release tag its config records`);
            }
            for (const b of builds) {
                for (const t of b.inputs.tags) assert.match(t, /:v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?-[0-9a-f]{7}$/, t);
            }
        });
    });
}
