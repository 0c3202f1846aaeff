import { strict as assert } from "assert";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { maskSecretValues, revealSecrets, runProgram, SECRET_PLACEHOLDER, unwrap } from "../../support/harness";

describe("mock harness", () => {
    it("fails the run when an apply feeding a resource input throws (the engine would fail the update)", async () => {
        await assert.rejects(
            runProgram(() => {
                const policy = pulumi.output("x").apply((): string => {
                    throw new Error("no pull principals");
                });
                new aws.ecr.RepositoryPolicy("p", { repository: "r", policy });
            }),
            /the program failed while declaring resources:\n  - .*no pull principals/,
        );
        // The next run is clean: the failure listener is gone.
        const { resources } = await runProgram(() => new aws.ecr.Repository("r", { name: "model-fleet/x" }));
        assert.deepEqual(
            resources.map((r) => r.type),
            ["aws:ecr/repository:Repository"],
        );
    });

    it("fails loudly on an invoke it does not mock", async () => {
        await assert.rejects(
            runProgram(async () => {
                await aws.ec2.getVpc({ default: true });
            }),
            /unexpected invoke aws:ec2\/getVpc:getVpc/,
        );
    });

    it("unwraps outputs deeply and keeps secret values out of what a plan shows", async () => {
        const { resources, result } = await runProgram(() => {
            new aws.ssm.Parameter("p", { name: "x", type: "SecureString", value: pulumi.secret("hunter2") });
            return unwrap(pulumi.output({ a: [pulumi.output(1)], b: pulumi.secret("s") }));
        });
        assert.deepEqual(result, { a: [1], b: "s" });
        const inputs = resources[0].inputs;
        assert.equal(revealSecrets(inputs).value, "hunter2");
        assert.equal(maskSecretValues(inputs).value, SECRET_PLACEHOLDER);
    });
});
