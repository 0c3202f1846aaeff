/**
 * Issue #18.1: the first `pulumi up` of a canary model must not wait on objects only the Rollout can satisfy. The
 * Kubernetes provider awaits a Service until its endpoints target living pods (provider/pkg/await/service.go), and
 * an Ingress until it has a load balancer; for a canary model those come from the Rollout's pods, and the Rollout is
 * declared after them. Before the fix these objects carried no skipAwait and the Rollout's strategy was built from
 * the stable Service's name Output: the first up timed out after 10 minutes. The sandbox e2e suite shows the fixed
 * program's first `pulumi up` of the local stack succeeding.
 */
import { strict as assert } from "assert";
import { k8sObjects, runStack } from "../../support/harness";

describe("awaits: nothing the program declares waits on what only a later resource provides (#18.1)", () => {
    for (const stack of ["dev", "prod", "local"]) {
        it(`${stack}: a canary model's stable and canary Services and its Ingress skip the provider's await; other Services keep it`, async () => {
            const { resources } = await runStack(stack);
            const objects = k8sObjects(resources);
            const rollouts = objects.filter((o) => o.kind === "Rollout");
            assert.ok(rollouts.length > 0, `${stack} has a canary model`);
            for (const r of rollouts) {
                const model = r.metadata.name;
                const argoManaged = objects.filter(
                    (o) =>
                        (o.kind === "Service" && (o.metadata.name === model || o.metadata.name === `${model}-canary`)) ||
                        (o.kind === "Ingress" && o.metadata.name === model),
                );
                assert.ok(argoManaged.length >= 2, `${model}: stable and canary Services`);
                for (const o of argoManaged) {
                    assert.equal(o.metadata.annotations?.["pulumi.com/skipAwait"], "true", `${o.kind} ${o.metadata.name} would be awaited`);
                }
                // The Rollout names the Services it routes through as plain strings (no Output that waits on them).
                assert.equal(r.spec.strategy.canary.canaryService, `${model}-canary`);
            }
            const canaryModels = new Set(rollouts.map((r) => r.metadata.name));
            for (const svc of objects.filter(
                (o) => o.kind === "Service" && !canaryModels.has(o.metadata.name) && !canaryModels.has(o.metadata.name.replace(/-canary$/, "")),
            )) {
                assert.equal(svc.metadata.annotations?.["pulumi.com/skipAwait"], undefined, `${svc.metadata.name}: a Deployment's Service keeps its await`);
            }
        });
    }
});
