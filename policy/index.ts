/**
 * The model-fleet CrossGuard policy pack. Constructing `PolicyPack` starts the analyzer's gRPC server, so this is
 * the only module that does it; the policies themselves live in `./policies`.
 *
 *   pulumi preview --policy-pack policy                     # from the repository root
 *   npm run policy -- --stack prod                          # offline, same policies (scripts/policy.ts)
 */
import { PolicyPack } from "@pulumi/policy";
import { policies } from "./policies";

new PolicyPack("model-fleet", {
    policies,
    description: "Model-fleet guardrails: digest-pinned images, hardened ECR and pods, gated GPU scheduling and canaries.",
});
